using System.Collections.Concurrent;
using KeyRotator.Model.Resources;
using KeyRotator.Model.Time;
using KeyRotator.Operator.Runtime;

namespace KeyRotator.Operator.Observability;

/// <summary>
/// Reported signature failures per set, in a sliding window compared against a baseline (the mean of
/// the preceding windows). A spike is at least `threshold` failures in the window and at least `ratio`
/// times the baseline. Time comes from the injected TimeProvider.
/// </summary>
public sealed class SignatureFailureTracker(TimeProvider time) : IRemembersSets
{
    /// <summary>How many earlier windows make the baseline.</summary>
    public const int BaselineWindows = 12;

    private readonly ConcurrentDictionary<(string Namespace, string Name), Series> _series = new();

    public void Record(string ns, string name, string reason, string? kid, long count)
    {
        var series = _series.GetOrAdd((ns, name), _ => new Series());
        lock (series)
            series.Entries.Enqueue((time.GetUtcNow(), reason, kid ?? "", count));
    }

    /// <summary>The verdict now; with <paramref name="since"/>, only failures reported from then on count in the window.</summary>
    public FailureSpike Evaluate(string ns, string name, SignatureFailureAlertSpec? alert, DateTimeOffset? since = null)
    {
        var window = GoDuration.TryParse(alert?.Window, out var w) && w > TimeSpan.Zero ? w : TimeSpan.FromMinutes(5);
        var threshold = alert?.Threshold ?? 20;
        var ratio = alert?.Ratio ?? 5;
        if (!_series.TryGetValue((ns, name), out var series))
            return new FailureSpike(false, 0, 0, null, null, window);

        var now = time.GetUtcNow();
        var windowStart = now - window;
        var horizon = now - (window * (BaselineWindows + 1));
        List<(DateTimeOffset At, string Reason, string Kid, long Count)> entries;
        lock (series)
        {
            while (series.Entries.TryPeek(out var oldest) && oldest.At < horizon)
                series.Entries.Dequeue();
            entries = [.. series.Entries];
        }

        var inWindow = entries.Where(e => e.At > windowStart && (since is null || e.At >= since)).ToList();
        var count = inWindow.Sum(e => e.Count);
        var baseline = entries.Where(e => e.At <= windowStart).Sum(e => e.Count) / (double)BaselineWindows;
        var dominant = inWindow.GroupBy(e => (e.Reason, e.Kid)).OrderByDescending(g => g.Sum(e => e.Count)).FirstOrDefault()?.Key;
        var spiking = count >= threshold && count >= ratio * Math.Max(baseline, 1);
        return new FailureSpike(spiking, count, baseline, dominant?.Reason, dominant?.Kid, window);
    }

    public void Forget(SetKey set, string? uid) => _series.TryRemove((set.Namespace, set.Name), out _);

    private sealed class Series
    {
        public Queue<(DateTimeOffset At, string Reason, string Kid, long Count)> Entries { get; } = new();
    }
}
