using KeyRotator.Model.Kubernetes;
using KeyRotator.Operator.Kubernetes;
using Microsoft.Extensions.Time.Testing;

namespace KeyRotator.Operator.Tests.Kubernetes;

/// <summary>The client-side limit: a burst goes at once, then one request per 1/Qps, and a quiet spell refills the burst.</summary>
public sealed class TokenBucketTests
{
    [Fact]
    public void A_burst_goes_at_once_then_requests_are_spaced_by_one_over_qps()
    {
        var time = new FakeTimeProvider();
        var bucket = new ApiRateLimitHandler.TokenBucket(qps: 10, burst: 3, time);

        Assert.All(Enumerable.Range(0, 3), _ => Assert.Equal(TimeSpan.Zero, bucket.Reserve()));
        Assert.Equal(TimeSpan.FromMilliseconds(100), bucket.Reserve());
        Assert.Equal(TimeSpan.FromMilliseconds(200), bucket.Reserve());

        // Waiters keep their order: after 200 ms both reservations are due, and the next waits 100 ms.
        time.Advance(TimeSpan.FromMilliseconds(200));
        Assert.Equal(TimeSpan.FromMilliseconds(100), bucket.Reserve());

        // A quiet spell refills the burst, never beyond it.
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.All(Enumerable.Range(0, 3), _ => Assert.Equal(TimeSpan.Zero, bucket.Reserve()));
        Assert.True(bucket.Reserve() > TimeSpan.Zero);
    }
}
