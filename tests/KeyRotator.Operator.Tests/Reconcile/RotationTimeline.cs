using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Azure.Storage.Blobs;
using k8s;
using k8s.Models;
using KeyRotator.Model.Jose;
using KeyRotator.Operator.Informers;
using KeyRotator.Operator.Publishing;

namespace KeyRotator.Operator.Tests.Reconcile;

/// <summary>
/// Watches a set's JWKS ConfigMap and signing Secret and records, on one clock, which kids were
/// published and which kid was signing at every change a watcher could see. Given an external target's
/// JWKS blob, it also reads the blob anonymously as a relying party does (every 100 ms) and records what
/// it held; while the storage service cannot be reached, a relying party keeps what it read last.
/// </summary>
internal sealed class RotationTimeline : IAsyncDisposable
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _watchers;
    private readonly ConcurrentQueue<string> _errors = new();

    public RotationTimeline(IKubernetes admin, string ns, string configMap, string secret, Uri? blob = null)
    {
        _watchers = Task.WhenAll(
            blob is null ? Task.CompletedTask : PollAsync(blob),
            WatchAsync(() => admin.WatchAsync<V1ConfigMap>(WatchRequest.Core("configmaps", ns) with { FieldSelector = $"metadata.name={configMap}" }, cancellationToken: _stop.Token), cm =>
            {
                if (cm.Data?.TryGetValue(JwksPublisher.JwksKey, out var json) == true)
                    Published.Enqueue((_clock.Elapsed, JwksDocument.Parse(json).Keys.Select(k => k.Kid).ToList()));
            }),
            WatchAsync(() => admin.WatchAsync<V1Secret>(WatchRequest.Core("secrets", ns) with { FieldSelector = $"metadata.name={secret}" }, cancellationToken: _stop.Token), s =>
            {
                if (s.Data?.TryGetValue(SigningSecretPublisher.KidKey, out var kid) == true)
                    Signing.Enqueue((_clock.Elapsed, Encoding.UTF8.GetString(kid)));
            }));
    }

    /// <summary>The timeline's clock now, to place an edit the test makes among what the watchers and readers saw.</summary>
    public TimeSpan Now => _clock.Elapsed;

    public ConcurrentQueue<(TimeSpan At, List<string> Kids)> Published { get; } = new();

    public ConcurrentQueue<(TimeSpan At, string Kid)> Signing { get; } = new();

    /// <summary>What the external target's JWKS blob held, at each change a reader saw.</summary>
    public ConcurrentQueue<(TimeSpan At, List<string> Kids)> InBlob { get; } = new();

    /// <summary>Reads of the blob that found the storage service unreachable or failing.</summary>
    public int BlobUnreachable => _blobUnreachable;

    private int _blobUnreachable;

    /// <summary>When each kid first signed, in order.</summary>
    public List<(string Kid, TimeSpan From)> Activations() =>
        Signing.GroupBy(s => s.Kid).Select(g => (g.Key, g.Min(s => s.At))).OrderBy(a => a.Item2).ToList();

    public TimeSpan? FirstPublished(string kid) => Published.Where(p => p.Kids.Contains(kid)).Select(p => (TimeSpan?)p.At).FirstOrDefault();

    public TimeSpan? FirstInBlob(string kid) => InBlob.Where(p => p.Kids.Contains(kid)).Select(p => (TimeSpan?)p.At).FirstOrDefault();

    /// <summary>What a relying party reading the blob held at <paramref name="at"/>: the last document it could read.</summary>
    public List<string>? InBlobAt(TimeSpan at) => InBlob.LastOrDefault(p => p.At <= at).Kids;

    /// <summary>The first JWKS change after <paramref name="after"/> that no longer lists <paramref name="kid"/>.</summary>
    public TimeSpan? Unpublished(string kid, TimeSpan after) =>
        Published.Where(p => p.At > after && !p.Kids.Contains(kid)).Select(p => (TimeSpan?)p.At).FirstOrDefault();

    public List<string>? PublishedAt(TimeSpan at) => Published.LastOrDefault(p => p.At <= at).Kids;

    public string? SigningAt(TimeSpan at) => Signing.LastOrDefault(s => s.At <= at).Kid;

    private async Task PollAsync(Uri blob)
    {
        var reader = new BlobClient(blob, new BlobClientOptions { Retry = { MaxRetries = 0, NetworkTimeout = TimeSpan.FromSeconds(2) } });
        string? last = null;
        while (!_stop.IsCancellationRequested)
        {
            string json;
            try
            {
                json = (await reader.DownloadContentAsync(_stop.Token)).Value.Content.ToString();
            }
            catch (Exception) when (!_stop.IsCancellationRequested)
            {
                // Not written yet, or the storage service is down: a relying party keeps what it has.
                Interlocked.Increment(ref _blobUnreachable);
                await Task.Delay(TimeSpan.FromMilliseconds(100), CancellationToken.None);
                continue;
            }
            catch (Exception)
            {
                return;
            }

            if (json != last)
            {
                try
                {
                    InBlob.Enqueue((_clock.Elapsed, JwksDocument.Parse(json).Keys.Select(k => k.Kid).ToList()));
                }
                catch (Exception e) when (e is System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
                {
                    _errors.Enqueue($"{_clock.Elapsed} the blob held a document that is not a JWKS: {e.Message}");
                }
            }

            last = json;

            await Task.Delay(TimeSpan.FromMilliseconds(100), CancellationToken.None);
        }
    }

    private async Task WatchAsync<T>(Func<IAsyncEnumerable<(WatchEventType, T)>> watch, Action<T> record)
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await foreach (var (type, item) in watch())
                {
                    if (type is WatchEventType.Added or WatchEventType.Modified)
                        record(item);
                }
            }
            catch (Exception e) when (!_stop.IsCancellationRequested)
            {
                // A watch that fails is not a quiet timeline: the test fails when the timeline is disposed.
                // (A watch the server closes ends without an exception and is simply opened again.)
                _errors.Enqueue($"{_clock.Elapsed} {e.GetType().Name}: {e.Message}");
                await Task.Delay(TimeSpan.FromMilliseconds(200), CancellationToken.None);
            }
            catch (Exception)
            {
                return;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _watchers.ContinueWith(_ => { }, TaskScheduler.Default);
        _stop.Dispose();
        if (!_errors.IsEmpty)
            throw new InvalidOperationException($"a watch of the rotation timeline failed, so what it recorded may have gaps:\n{string.Join('\n', _errors)}");
    }
}
