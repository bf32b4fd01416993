namespace KeyRotator.Operator.Observability;

/// <summary>
/// One set's reported failures in a fixed number of time buckets (a tenth of the alert window each, over
/// the window and the twelve before it): a total per bucket, and for the buckets of the current window
/// at most <see cref="SignatureFailureTracker.MaxCausesPerBucket"/> (reason, kid) counts each. Its size
/// is fixed when it is made; whatever callers send only changes numbers, or replaces the smallest cause
/// of a bucket with a larger one. Not thread-safe: the tracker locks it.
/// </summary>
internal sealed class FailureSeries
{
    private const int Buckets = SignatureFailureTracker.BucketsPerWindow * (SignatureFailureTracker.BaselineWindows + 1);
    private const int WindowBuckets = SignatureFailureTracker.BucketsPerWindow;

    private readonly long _width;
    private readonly long[] _index = Filled(Buckets);
    private readonly long[] _totals = new long[Buckets];
    private readonly long[] _causeIndex = Filled(WindowBuckets);
    private readonly Dictionary<(string Reason, string Kid), long>[] _causes = [.. Enumerable.Range(0, WindowBuckets).Select(_ => new Dictionary<(string, string), long>())];

    public FailureSeries(TimeSpan window)
    {
        Window = window;
        _width = Math.Max(1, window.Ticks / WindowBuckets);
    }

    public TimeSpan Window { get; }

    /// <summary>The (reason, kid) counts held, whichever buckets they belong to.</summary>
    public int Causes => _causes.Sum(c => c.Count);

    public void Add(DateTimeOffset at, string reason, string kid, long count)
    {
        var bucket = Bucket(at);
        var slot = (int)(bucket % Buckets);
        if (_index[slot] != bucket)
            (_index[slot], _totals[slot]) = (bucket, 0);
        _totals[slot] += count;

        var causeSlot = (int)(bucket % WindowBuckets);
        var causes = _causes[causeSlot];
        if (_causeIndex[causeSlot] != bucket)
        {
            _causeIndex[causeSlot] = bucket;
            causes.Clear();
        }

        var key = (reason, kid);
        if (causes.TryGetValue(key, out var held))
            causes[key] = held + count;
        else if (causes.Count < SignatureFailureTracker.MaxCausesPerBucket)
            causes[key] = count;
        else if (causes.MinBy(c => c.Value) is var least && least.Value < count)
        {
            // Full: the smallest cause gives way to a larger one (it still counts in the bucket's total).
            causes.Remove(least.Key);
            causes[key] = count;
        }
    }

    /// <summary>The window's count (from the bucket holding <paramref name="since"/> on), the baseline per window and the dominant cause.</summary>
    public FailureSpike Evaluate(DateTimeOffset now, DateTimeOffset? since, long threshold, double ratio)
    {
        var current = Bucket(now);
        var windowStart = current - WindowBuckets + 1;
        var from = since is { } s ? Math.Max(windowStart, Bucket(s)) : windowStart;
        long count = 0, before = 0;
        for (var slot = 0; slot < Buckets; slot++)
        {
            var bucket = _index[slot];
            if (bucket >= from && bucket <= current)
                count += _totals[slot];
            else if (bucket < windowStart && bucket > current - Buckets)
                before += _totals[slot];
        }

        var dominant = Enumerable.Range(0, WindowBuckets)
            .Where(slot => _causeIndex[slot] >= from && _causeIndex[slot] <= current)
            .OrderBy(slot => _causeIndex[slot])
            .SelectMany(slot => _causes[slot])
            .GroupBy(c => c.Key)
            .Select(g => (g.Key, Count: g.Sum(c => c.Value)))
            .OrderByDescending(c => c.Count)
            .FirstOrDefault();
        var baseline = before / (double)SignatureFailureTracker.BaselineWindows;
        var spiking = count >= threshold && count >= ratio * Math.Max(baseline, 1);
        return new FailureSpike(spiking, count, baseline, count > 0 ? dominant.Key.Reason : null, count > 0 ? dominant.Key.Kid : null, Window);
    }

    private long Bucket(DateTimeOffset at) => at.UtcTicks / _width;

    private static long[] Filled(int length) => [.. Enumerable.Repeat(-1L, length)];
}
