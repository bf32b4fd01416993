using KeyRotator.Model.Resources;
using KeyRotator.Operator.Observability;
using Microsoft.Extensions.Time.Testing;

namespace KeyRotator.Operator.Tests.Observability;

/// <summary>The spike rule on a fake clock: at least threshold failures in the window and at least ratio × the baseline (mean of the 12 windows before).</summary>
public sealed class SpikeRuleTests
{
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(5);
    private static readonly SignatureFailureAlertSpec Alert = new() { Window = "5m", Threshold = 20, Ratio = 5 };

    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));

    /// <summary>A steady background of <paramref name="perWindow"/> failures in each of the 12 windows before now.</summary>
    private SignatureFailureTracker WithBaseline(long perWindow)
    {
        var tracker = new SignatureFailureTracker(_clock);
        for (var i = 0; i < SignatureFailureTracker.BaselineWindows; i++)
        {
            tracker.Record("ns", "auth", "expired", "old", perWindow);
            _clock.Advance(Window);
        }

        return tracker;
    }

    [Fact]
    public void With_a_non_zero_baseline_the_ratio_decides_not_the_threshold()
    {
        var tracker = WithBaseline(10);

        tracker.Record("ns", "auth", "unknown_kid", "new", 49);
        var below = tracker.Evaluate("ns", "auth", Alert);
        Assert.False(below.Spiking, $"49 is above the threshold but under 5 × the baseline of {below.BaselinePerWindow}");
        Assert.Equal(10, below.BaselinePerWindow, 1);

        tracker.Record("ns", "auth", "unknown_kid", "new", 1);
        var at = tracker.Evaluate("ns", "auth", Alert);
        Assert.True(at.Spiking, "50 = 5 × the baseline");
        Assert.Equal(("unknown_kid", "new"), (at.Reason, at.Kid));
    }

    [Fact]
    public void With_no_baseline_the_threshold_decides_exactly_at_its_value()
    {
        var tracker = new SignatureFailureTracker(_clock);
        tracker.Record("ns", "auth", "bad_signature", "k", 19);
        Assert.False(tracker.Evaluate("ns", "auth", Alert).Spiking);
        tracker.Record("ns", "auth", "bad_signature", "k", 1);
        Assert.True(tracker.Evaluate("ns", "auth", Alert).Spiking);
    }

    [Fact]
    public void The_baseline_forgets_failures_older_than_twelve_windows_and_the_window_clears()
    {
        var tracker = new SignatureFailureTracker(_clock);
        tracker.Record("ns", "auth", "expired", "old", 10_000);
        _clock.Advance(Window * 13 + TimeSpan.FromSeconds(1));

        tracker.Record("ns", "auth", "unknown_kid", "new", 20);
        var spike = tracker.Evaluate("ns", "auth", Alert);
        Assert.True(spike.Spiking, $"the old burst no longer counts: baseline {spike.BaselinePerWindow}");
        Assert.Equal(0, spike.BaselinePerWindow);

        _clock.Advance(Window + TimeSpan.FromSeconds(1));
        var quiet = tracker.Evaluate("ns", "auth", Alert);
        Assert.False(quiet.Spiking);
        Assert.Equal(0, quiet.WindowCount);
    }

    [Fact]
    public void A_replica_restarted_mid_window_has_no_baseline_and_errs_towards_alerting()
    {
        // Twelve windows of 10 failures each, then a burst of 40 in the current window.
        var running = WithBaseline(10);
        running.Record("ns", "auth", "unknown_kid", "new", 40);
        Assert.False(running.Evaluate("ns", "auth", Alert).Spiking, "40 is under 5 × the baseline of 10");

        // A replica restarted in the middle of that window hears only what came after: 25 of the 40.
        var restarted = new SignatureFailureTracker(_clock);
        restarted.Record("ns", "auth", "unknown_kid", "new", 25);
        var verdict = restarted.Evaluate("ns", "auth", Alert);
        Assert.Equal(0, verdict.BaselinePerWindow);
        Assert.Equal(25, verdict.WindowCount);
        Assert.True(verdict.Spiking, "with its history gone only the threshold applies: a restart can raise a spike the baseline would have absorbed, never hide one");
    }

    [Fact]
    public void A_deleted_set_forgets_its_series()
    {
        var tracker = new SignatureFailureTracker(_clock);
        tracker.Record("ns", "auth", "bad_signature", "k", 100);
        tracker.Forget(new KeyRotator.Operator.Runtime.SetKey("ns", "auth"), uid: null);
        Assert.Equal(0, tracker.Evaluate("ns", "auth", Alert).WindowCount);
    }
}
