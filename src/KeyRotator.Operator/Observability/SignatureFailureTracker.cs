using System.Collections.Concurrent;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Resources;
using KeyRotator.Model.Time;
using KeyRotator.Operator.Runtime;

namespace KeyRotator.Operator.Observability;

/// <summary>
/// Reported signature failures per set, in a sliding window compared against a baseline (the mean of
/// the preceding windows). A spike is at least `threshold` failures in the window and at least `ratio`
/// times the baseline. Time comes from the injected TimeProvider.
/// <para>
/// What a set holds has a fixed ceiling whatever callers send (<see cref="FailureSeries"/>): failures are
/// counted in buckets of a tenth of the window (so the window is its current bucket and the nine before
/// it: a failure counts for between 0.9 and 1 window), zero counts are not kept, and a bucket keeps at
/// most <see cref="MaxCausesPerBucket"/> (reason, kid) counts, the largest. A bucket is reused when time
/// passes it, so nothing waits for a reconcile to be pruned. A changed window starts the history afresh.
/// </para>
/// </summary>
public sealed class SignatureFailureTracker(TimeProvider time) : IRemembersSets
{
    /// <summary>How many earlier windows make the baseline.</summary>
    public const int BaselineWindows = 12;

    /// <summary>Buckets per window: the granularity of the window, of the baseline and of a rollback's "since".</summary>
    public const int BucketsPerWindow = 10;

    /// <summary>The most (reason, kid) counts one bucket keeps; a smaller one gives way to a larger one.</summary>
    public const int MaxCausesPerBucket = 8;

    /// <summary>The most (reason, kid) counts a set holds at once (causes are kept for the window's buckets only).</summary>
    public const int MaxCausesPerSet = BucketsPerWindow * MaxCausesPerBucket;

    /// <summary>
    /// The longest kid kept as it is (a real kid, an RFC 7638 thumbprint, has 43 characters); a longer
    /// one, which no key of the set can have, is kept as its start and a marker.
    /// </summary>
    public const int MaxKidLength = 64;

    private static readonly TimeSpan DefaultWindow = TimeSpan.FromMinutes(5);

    private readonly ConcurrentDictionary<(string Namespace, string Name), FailureSeries> _series = new();

    /// <summary>The set's window: spec.signatureFailureAlert.window (5m when unset or not a duration), held within the documented bounds.</summary>
    public static TimeSpan WindowOf(SignatureFailureAlertSpec? alert)
    {
        var window = GoDuration.TryParse(alert?.Window, out var w) && w > TimeSpan.Zero ? w : DefaultWindow;
        return window < SpecBounds.MinAlertWindow ? SpecBounds.MinAlertWindow : window > SpecBounds.MaxAlertWindow ? SpecBounds.MaxAlertWindow : window;
    }

    public void Record(string ns, string name, SignatureFailureAlertSpec? alert, string reason, string? kid, long count)
    {
        if (count <= 0)
            return;
        var window = WindowOf(alert);
        var series = _series.AddOrUpdate((ns, name), _ => new FailureSeries(window), (_, held) => held.Window == window ? held : new FailureSeries(window));
        lock (series)
            series.Add(time.GetUtcNow(), reason, kid is { Length: > MaxKidLength } ? string.Concat(kid.AsSpan(0, MaxKidLength - 1), "…") : kid ?? "", count);
    }

    /// <summary>
    /// The verdict now; with <paramref name="since"/>, only failures reported from then on count in the
    /// window (from the bucket that holds <paramref name="since"/>: up to a tenth of the window earlier).
    /// </summary>
    public FailureSpike Evaluate(string ns, string name, SignatureFailureAlertSpec? alert, DateTimeOffset? since = null)
    {
        var window = WindowOf(alert);
        var threshold = alert?.Threshold ?? 20;
        var ratio = alert?.Ratio ?? 5;
        if (!_series.TryGetValue((ns, name), out var series) || series.Window != window)
            return new FailureSpike(false, 0, 0, null, null, window);
        lock (series)
            return series.Evaluate(time.GetUtcNow(), since, threshold, ratio);
    }

    /// <summary>How many (reason, kid) counts the set holds now; never more than <see cref="MaxCausesPerSet"/>.</summary>
    public int RetainedCauses(string ns, string name)
    {
        if (!_series.TryGetValue((ns, name), out var series))
            return 0;
        lock (series)
            return series.Causes;
    }

    public void Forget(SetKey set, string? uid) => _series.TryRemove((set.Namespace, set.Name), out _);
}
