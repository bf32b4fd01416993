using System.Net;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Operator.Configuration;
using Microsoft.Extensions.Logging;

namespace KeyRotator.Operator.Kubernetes;

/// <summary>
/// Paces the operator's Kubernetes API requests: an optional client-side token bucket (Qps, Burst), and
/// for answers that say "not now" (429 from priority and fairness or max-in-flight, or a 5xx with
/// Retry-After, as client-go treats them) a wait of Retry-After (or exponential backoff) with jitter
/// before the same request goes again. After MaxRetries the answer goes to the caller, whose reconcile
/// fails and is requeued with the work queue's backoff. Watches are not paced (they are long-lived and
/// the informers already back off on their own), nor are Lease requests: a leader that cannot renew in
/// time steps down, so its renewals never queue behind reconciles. Every wait is reported to
/// <paramref name="waited"/> (by: <c>client</c> for the bucket, <c>server</c> for a retried answer), which
/// the host turns into metrics: this room knows nothing of them.
/// </summary>
public sealed partial class ApiRateLimitHandler(ApiClientOptions options, TimeProvider time, Action<string, TimeSpan> waited, ILogger logger) : DelegatingHandler
{
    private readonly TokenBucket? _bucket = options.Qps > 0 ? new TokenBucket(options.Qps, Math.Max(1, options.Burst), time) : null;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var watch = ApiRequests.IsWatch(request);
        var lease = ApiRequests.IsLease(request);
        for (var attempt = 0; ; attempt++)
        {
            if (_bucket is not null && !watch && !lease && _bucket.Reserve() is var wait && wait > TimeSpan.Zero)
            {
                waited("client", wait);
                await Task.Delay(wait, time, cancellationToken);
            }

            var response = await base.SendAsync(request, cancellationToken);
            if (watch || attempt >= options.MaxRetries || RetryDelay(response, attempt) is not { } delay)
                return response;

            waited("server", delay);
            LogRetry(logger, request.Method.Method, request.RequestUri?.AbsolutePath ?? "", (int)response.StatusCode, delay.TotalSeconds, attempt + 1);
            response.Dispose();
            await Task.Delay(delay, time, cancellationToken);
        }
    }

    /// <summary>How long to wait before sending again, or null when the answer is final.</summary>
    private TimeSpan? RetryDelay(HttpResponseMessage response, int attempt)
    {
        var retryAfter = response.Headers.RetryAfter switch
        {
            { Delta: { } delta } => delta,
            { Date: { } date } => date - time.GetUtcNow(),
            _ => (TimeSpan?)null,
        };
        var retry = response.StatusCode == HttpStatusCode.TooManyRequests || ((int)response.StatusCode >= 500 && retryAfter is not null);
        if (!retry)
            return null;

        // Retry-After when the server gives one (APF says 1 s), else 0.5 s doubling; never more than the
        // configured maximum; plus up to 50% jitter so that the workers do not come back in step.
        var baseDelay = retryAfter is { } after && after > TimeSpan.Zero
            ? after
            : TimeSpan.FromMilliseconds(500 * Math.Pow(2, Math.Min(attempt, 10)));
        baseDelay = TimeSpan.FromTicks(Math.Min(baseDelay.Ticks, options.MaxRetryDelay.Ticks));
        return baseDelay + TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * baseDelay.TotalMilliseconds / 2);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Kubernetes API {Method} {Path} answered {Status}; sending again in {DelaySeconds:0.00}s (retry {Attempt})")]
    private static partial void LogRetry(ILogger logger, string method, string path, int status, double delaySeconds, int attempt);

    /// <summary>
    /// A token bucket in the manner of Go's rate.Limiter: each request reserves a token, and waits as long
    /// as it takes the bucket to refill to it (reservations may run the bucket below zero, which keeps
    /// waiters in order).
    /// </summary>
    internal sealed class TokenBucket(double qps, int burst, TimeProvider time)
    {
        private readonly Lock _lock = new();
        private double _tokens = burst;
        private long _last = time.GetTimestamp();

        public TimeSpan Reserve()
        {
            lock (_lock)
            {
                var now = time.GetTimestamp();
                _tokens = Math.Min(burst, _tokens + (time.GetElapsedTime(_last, now).TotalSeconds * qps));
                _last = now;
                _tokens -= 1;
                return _tokens >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-_tokens / qps);
            }
        }
    }
}
