using KeyRotator.Model.Kubernetes;

namespace KeyRotator.Operator.Kubernetes;

/// <summary>
/// When the API server last answered a request (any status: an answer is an answer). Watches are left
/// out, since a stalled stream says nothing either way. A replica that competes for the Lease asks for it
/// every RetryPeriod, so a silence longer than the lease means the API server hangs, which no error
/// ever reports (requests just wait); readiness says so (<c>OperatorHealth</c>).
/// </summary>
public sealed class ApiAnswerClock(TimeProvider time)
{
    private long _lastAnswerTicks;

    /// <summary>When the last answer arrived; null before the first.</summary>
    public DateTimeOffset? LastAnswer => Interlocked.Read(ref _lastAnswerTicks) is var ticks and > 0 ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;

    /// <summary>The handler that stamps the clock, for the API client's pipeline.</summary>
    public DelegatingHandler Handler() => new Stamp(this);

    private void Answered() => Interlocked.Exchange(ref _lastAnswerTicks, time.GetUtcNow().UtcTicks);

    private sealed class Stamp(ApiAnswerClock clock) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            if (!ApiRequests.IsWatch(request))
                clock.Answered();
            return response;
        }
    }
}
