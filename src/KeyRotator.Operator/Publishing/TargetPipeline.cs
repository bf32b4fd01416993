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

    /// <summary>
    /// Throttling is the account asking to slow down, not a fault: it is waited out for longer before the set
    /// says so, each time for as long as the account said (Retry-After), not for a growing backoff.
    /// </summary>
    internal const int ThrottledRetries = 30;

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
            var now = _time.GetUtcNow();
            var until = (now + RetryAfter(message.Response, now)).UtcTicks;
            long seen;
            do
                seen = Interlocked.Read(ref _pausedUntil);
            while (until > seen && Interlocked.CompareExchange(ref _pausedUntil, until, seen) != seen);
        }
    }

    /// <summary>Retry-After in seconds or as a date (RFC 9110 §10.2.3), else one second; never more than a minute.</summary>
    internal static TimeSpan RetryAfter(Azure.Response response, DateTimeOffset now)
    {
        var after = TimeSpan.FromSeconds(1);
        if (response.Headers.TryGetValue("Retry-After", out var value))
        {
            if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
                after = TimeSpan.FromSeconds(seconds);
            else if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date))
                after = date - now;
        }

        return after < TimeSpan.Zero ? TimeSpan.Zero : after > TimeSpan.FromMinutes(1) ? TimeSpan.FromMinutes(1) : after;
    }

    /// <summary>
    /// A throttled answer that says when to come back is retried then (Azure.Core takes the larger of
    /// Retry-After and this delay: a growing backoff on top left a 40 requests/s account used at 14/s);
    /// anything else backs off exponentially, 0.5 s doubling to at most 10 s.
    /// </summary>
    private sealed class RetryAfterFirst() : DelayStrategy(TimeSpan.FromSeconds(10), 0.2)
    {
        protected override TimeSpan GetNextDelayCore(Azure.Response? response, int retryNumber) =>
            response is { Status: 429 or 503 } && response.Headers.Contains("Retry-After")
                ? TimeSpan.FromMilliseconds(100) // never a tight loop, even for Retry-After: 0
                : TimeSpan.FromMilliseconds(500 * Math.Pow(2, Math.Min(retryNumber - 1, 5)));
    }

    /// <summary>Azure.Core's retries (see <see cref="RetryAfterFirst"/>), with more patience for throttling than for faults.</summary>
    private sealed class ThrottleAwareRetry() : RetryPolicy(ThrottledRetries, new RetryAfterFirst())
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
