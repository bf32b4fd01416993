using System.Globalization;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Storage.Blobs;
using KeyRotator.Operator.Observability;

namespace KeyRotator.Operator.Publishing;

/// <summary>
/// The HTTP pipeline of one publication target: every attempt counted by method and answer, and a storage
/// account's throttling (503 ServerBusy, 429, with Retry-After) respected by every worker at once, not only
/// by the request that was told: the next request to the target waits until the account said to come back.
/// </summary>
internal sealed class TargetPipeline : HttpPipelinePolicy
{
    /// <summary>Faults (timeouts, 5xx, refused connections) are retried a few times, then the set is Degraded and requeued.</summary>
    internal const int FaultRetries = 3;

    /// <summary>Throttling is the account asking to slow down, not a fault: it is waited out for longer before the set says so.</summary>
    internal const int ThrottledRetries = 8;

    private readonly string _target;
    private readonly OperatorMetrics _metrics;
    private readonly TimeProvider _time;
    private long _pausedUntil; // UTC ticks

    public TargetPipeline(string target, OperatorMetrics metrics, TimeProvider time)
    {
        (_target, _metrics, _time) = (target, metrics, time);
        Options = new BlobClientOptions
        {
            RetryPolicy = new ThrottleAwareRetry(),
            Retry = { NetworkTimeout = TimeSpan.FromSeconds(10) },
        };
        Options.AddPolicy(this, HttpPipelinePosition.PerRetry);
        _ = metrics.PublishThrottledSeconds.WithLabels(target); // 0 from the start, so rate() sees the first wait
    }

    public BlobClientOptions Options { get; }

    public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline) =>
        ProcessAsync(message, pipeline).AsTask().GetAwaiter().GetResult();

    public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        var wait = new DateTimeOffset(Interlocked.Read(ref _pausedUntil), TimeSpan.Zero) - _time.GetUtcNow();
        if (wait > TimeSpan.Zero)
        {
            _metrics.PublishThrottledSeconds.WithLabels(_target).Inc(wait.TotalSeconds);
            await Task.Delay(wait, _time, message.CancellationToken);
        }

        var method = message.Request.Method.Method;
        try
        {
            await ProcessNextAsync(message, pipeline);
        }
        catch (Exception) when (!message.CancellationToken.IsCancellationRequested)
        {
            _metrics.PublishRequests.WithLabels(_target, method, "unreachable").Inc();
            throw;
        }

        var status = message.Response.Status;
        _metrics.PublishRequests.WithLabels(_target, method, status.ToString(CultureInfo.InvariantCulture)).Inc();
        if (status is 429 or 503)
        {
            var until = (_time.GetUtcNow() + RetryAfter(message.Response)).UtcTicks;
            long seen;
            do
                seen = Interlocked.Read(ref _pausedUntil);
            while (until > seen && Interlocked.CompareExchange(ref _pausedUntil, until, seen) != seen);
        }
    }

    /// <summary>Retry-After in seconds or as a date (RFC 9110 §10.2.3), else one second; never more than a minute.</summary>
    internal static TimeSpan RetryAfter(Azure.Response response)
    {
        var after = TimeSpan.FromSeconds(1);
        if (response.Headers.TryGetValue("Retry-After", out var value))
        {
            if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
                after = TimeSpan.FromSeconds(seconds);
            else if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date))
                after = date - DateTimeOffset.UtcNow;
        }

        return after < TimeSpan.Zero ? TimeSpan.Zero : after > TimeSpan.FromMinutes(1) ? TimeSpan.FromMinutes(1) : after;
    }

    /// <summary>Azure.Core's retries (exponential, Retry-After honoured), with more patience for throttling than for faults.</summary>
    private sealed class ThrottleAwareRetry() : RetryPolicy(ThrottledRetries, DelayStrategy.CreateExponentialDelayStrategy(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(10)))
    {
        private const string Faults = "keyrotator.faults";

        protected override bool ShouldRetry(HttpMessage message, Exception? exception)
        {
            if (!base.ShouldRetry(message, exception))
                return false;
            if (exception is null && message.Response.Status is 429 or 503)
                return true; // up to ThrottledRetries, counted by Azure.Core
            var faults = message.TryGetProperty(Faults, out var counted) && counted is int n ? n + 1 : 1;
            message.SetProperty(Faults, faults);
            return faults <= FaultRetries;
        }

        protected override ValueTask<bool> ShouldRetryAsync(HttpMessage message, Exception? exception) => new(ShouldRetry(message, exception));
    }
}
