using System.Threading.RateLimiting;

namespace KeyRotator.Operator.Serving;

/// <summary>
/// Reviews (TokenReview or SubjectAccessReview) the operator may send the API server: a token bucket per
/// namespace inside a global one, so that one namespace spending as fast as it can takes at most its
/// share and the rest of the global budget stays with everybody else. Buckets of namespaces that have
/// gone quiet are dropped by the limiter itself.
/// </summary>
public sealed class ReviewBudget : IDisposable
{
    private readonly PartitionedRateLimiter<string> _perNamespace;
    private readonly PartitionedRateLimiter<string> _global;
    private readonly PartitionedRateLimiter<string> _chained;

    public ReviewBudget(int perSecond, int burst, int perSecondPerNamespace, int burstPerNamespace)
    {
        PerSecond = Math.Max(1, perSecond);
        Burst = Math.Max(PerSecond, burst);
        PerSecondPerNamespace = Math.Clamp(perSecondPerNamespace, 1, PerSecond);
        BurstPerNamespace = Math.Clamp(burstPerNamespace, PerSecondPerNamespace, Burst);
        _perNamespace = PartitionedRateLimiter.Create<string, string>(ns => RateLimitPartition.GetTokenBucketLimiter(ns, _ => Bucket(PerSecondPerNamespace, BurstPerNamespace)), StringComparer.Ordinal);
        _global = PartitionedRateLimiter.Create<string, string>(_ => RateLimitPartition.GetTokenBucketLimiter("", _ => Bucket(PerSecond, Burst)), StringComparer.Ordinal);
        // The namespace's bucket first: a namespace over its share never touches the global one.
        _chained = PartitionedRateLimiter.CreateChained(_perNamespace, _global);
    }

    public int PerSecond { get; }

    public int Burst { get; }

    public int PerSecondPerNamespace { get; }

    public int BurstPerNamespace { get; }

    /// <summary>Takes one review from <paramref name="ns"/>'s share and from the global budget; false when either is spent.</summary>
    public bool TrySpend(string ns)
    {
        using var lease = _chained.AttemptAcquire(ns);
        return lease.IsAcquired;
    }

    private static TokenBucketRateLimiterOptions Bucket(int perSecond, int burst) => new()
    {
        TokenLimit = burst,
        TokensPerPeriod = perSecond,
        ReplenishmentPeriod = TimeSpan.FromSeconds(1),
        QueueLimit = 0,
        // The partitioned limiter replenishes its buckets on its own timer.
        AutoReplenishment = false,
    };

    public void Dispose()
    {
        _chained.Dispose();
        _perNamespace.Dispose();
        _global.Dispose();
    }
}
