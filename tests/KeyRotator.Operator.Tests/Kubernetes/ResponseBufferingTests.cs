using System.Collections.Concurrent;
using System.Net;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Kubernetes;

/// <summary>
/// KubernetesClient deserializes an answer with a synchronous read of its body, which holds a thread
/// until the body arrives; under a burst of slow answers that starved the thread pool and the leader
/// missed its renew deadline. The operator's client reads every answer in full, asynchronously, first:
/// no thread of the operator ever waits on the network for an API server's answer.
/// </summary>
public sealed class ResponseBufferingTests(KubernetesEnvironment env)
{
    [Fact]
    public async Task No_answer_from_the_API_server_is_read_by_a_thread_that_waits_on_the_network()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("buffering", ct);
        var scenario = new OperatorScenario(env, ns);
        var wire = new BodyReadRecorder();
        await using var op = await OperatorInstance.StartAsync(env, [ns], handlers: [wire]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        await scenario.WaitForActiveKeyAsync("auth");
        await op.WaitForQuietQueueAsync(ct);

        // Lists, creates, updates, status writes and the leader's Lease all went by (the Lease elector
        // creates the Lease and renews it with a PUT only after its retry period, so either answer counts).
        Assert.Contains(wire.Answers, a => (a.StartsWith("PUT ", StringComparison.Ordinal) || a.StartsWith("POST ", StringComparison.Ordinal)) && a.Contains("/leases", StringComparison.Ordinal));
        Assert.Contains(wire.Answers, a => a.StartsWith("POST ", StringComparison.Ordinal) && a.Contains("/configmaps", StringComparison.Ordinal));
        Assert.True(wire.SynchronousReads.IsEmpty, "answers read synchronously from the network:\n" + string.Join('\n', wire.SynchronousReads.Distinct()));
    }

    /// <summary>
    /// Nearest the wire: passes every answer (watches aside) on with a body that notes each synchronous read
    /// of the network stream. A body read in full into memory before KubernetesClient sees it is never read so.
    /// </summary>
    private sealed class BodyReadRecorder : DelegatingHandler
    {
        public ConcurrentQueue<string> Answers { get; } = new();

        public ConcurrentQueue<string> SynchronousReads { get; } = new();

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            if (Operator.Kubernetes.ApiRequests.IsWatch(request))
                return response;
            var what = $"{request.Method} {request.RequestUri!.AbsolutePath}";
            Answers.Enqueue(what);
            response.Content = new RecordingContent(response.Content, () => SynchronousReads.Enqueue(what));
            return response;
        }
    }

    private sealed class RecordingContent : HttpContent
    {
        private readonly HttpContent _inner;
        private readonly Action _synchronousRead;

        public RecordingContent(HttpContent inner, Action synchronousRead)
        {
            _inner = inner;
            _synchronousRead = synchronousRead;
            foreach (var header in inner.Headers)
                Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
            await _inner.CopyToAsync(stream, cancellationToken);

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override void SerializeToStream(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            _synchronousRead();
            _inner.CopyTo(stream, context, cancellationToken);
        }

        protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken) =>
            new RecordingStream(await _inner.ReadAsStreamAsync(cancellationToken), _synchronousRead);

        protected override Task<Stream> CreateContentReadStreamAsync() => CreateContentReadStreamAsync(CancellationToken.None);

        protected override Stream CreateContentReadStream(CancellationToken cancellationToken) => new RecordingStream(_inner.ReadAsStream(cancellationToken), _synchronousRead);

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                _inner.Dispose();
            base.Dispose(disposing);
        }
    }

    private sealed class RecordingStream(Stream inner, Action synchronousRead) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            synchronousRead();
            return inner.Read(buffer);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
