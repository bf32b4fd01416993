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
            tracker.Record("ns", "auth", Alert, "expired", "old", perWindow);
            _clock.Advance(Window);
        }

        return tracker;
    }

    [Fact]
    public void With_a_non_zero_baseline_the_ratio_decides_not_the_threshold()
    {
        var tracker = WithBaseline(10);

        tracker.Record("ns", "auth", Alert, "unknown_kid", "new", 49);
        var below = tracker.Evaluate("ns", "auth", Alert);
        Assert.False(below.Spiking, $"49 is above the threshold but under 5 × the baseline of {below.BaselinePerWindow}");
        Assert.Equal(10, below.BaselinePerWindow, 1);

        tracker.Record("ns", "auth", Alert, "unknown_kid", "new", 1);
        var at = tracker.Evaluate("ns", "auth", Alert);
        Assert.True(at.Spiking, "50 = 5 × the baseline");
        Assert.Equal(("unknown_kid", "new"), (at.Reason, at.Kid));
    }

    [Fact]
    public void With_no_baseline_the_threshold_decides_exactly_at_its_value()
    {
        var tracker = new SignatureFailureTracker(_clock);
        tracker.Record("ns", "auth", Alert, "bad_signature", "k", 19);
        Assert.False(tracker.Evaluate("ns", "auth", Alert).Spiking);
        tracker.Record("ns", "auth", Alert, "bad_signature", "k", 1);
        Assert.True(tracker.Evaluate("ns", "auth", Alert).Spiking);
    }

    [Fact]
    public void The_baseline_forgets_failures_older_than_twelve_windows_and_the_window_clears()
    {
        var tracker = new SignatureFailureTracker(_clock);
        tracker.Record("ns", "auth", Alert, "expired", "old", 10_000);
        _clock.Advance(Window * 13 + TimeSpan.FromSeconds(1));

        tracker.Record("ns", "auth", Alert, "unknown_kid", "new", 20);
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
        running.Record("ns", "auth", Alert, "unknown_kid", "new", 40);
        Assert.False(running.Evaluate("ns", "auth", Alert).Spiking, "40 is under 5 × the baseline of 10");

        // A replica restarted in the middle of that window hears only what came after: 25 of the 40.
        var restarted = new SignatureFailureTracker(_clock);
        restarted.Record("ns", "auth", Alert, "unknown_kid", "new", 25);
        var verdict = restarted.Evaluate("ns", "auth", Alert);
        Assert.Equal(0, verdict.BaselinePerWindow);
        Assert.Equal(25, verdict.WindowCount);
        Assert.True(verdict.Spiking, "with its history gone only the threshold applies: a restart can raise a spike the baseline would have absorbed, never hide one");
    }

    [Fact]
    public void A_deleted_set_forgets_its_series()
    {
        var tracker = new SignatureFailureTracker(_clock);
        tracker.Record("ns", "auth", Alert, "bad_signature", "k", 100);
        tracker.Forget(new KeyRotator.Operator.Runtime.SetKey("ns", "auth"), uid: null);
        Assert.Equal(0, tracker.Evaluate("ns", "auth", Alert).WindowCount);
    }

    [Fact]
    public void A_flood_of_distinct_causes_zero_counts_and_a_huge_window_keeps_the_set_under_its_ceiling()
    {
        // Another team's verifiers (or this team's own, gone wrong) send every reason with ever new kids,
        // most with zero counts, for a set whose window is as long as the spec's pattern allows.
        var huge = new SignatureFailureAlertSpec { Window = "10000h", Threshold = 20, Ratio = 5 };
        string[] reasons = ["unknown_kid", "bad_signature", "alg_rejected", "expired", "not_yet_valid", "audience", "issuer", "lifetime", "malformed"];
        var tracker = new SignatureFailureTracker(_clock);
        var most = 0;
        for (var i = 0; i < 200_000; i++)
        {
            tracker.Record("ns", "auth", huge, reasons[i % reasons.Length], $"forged-{i}", i % 4 == 0 ? 1 : 0);
            if (i % 1000 == 0)
            {
                _clock.Advance(TimeSpan.FromMinutes(7));
                most = Math.Max(most, tracker.RetainedCauses("ns", "auth"));
            }
        }

        Assert.InRange(most, 1, SignatureFailureTracker.MaxCausesPerSet);
        Assert.Equal(KeyRotator.Core.Lifecycle.SpecBounds.MaxAlertWindow, tracker.Evaluate("ns", "auth", huge).Window);

        // Zero counts alone leave nothing behind.
        for (var i = 0; i < 10_000; i++)
            tracker.Record("ns", "quiet", Alert, "unknown_kid", $"zero-{i}", 0);
        Assert.Equal(0, tracker.RetainedCauses("ns", "quiet"));
    }

    [Fact]
    public void A_real_cause_still_dominates_a_window_full_of_small_forged_ones()
    {
        var tracker = new SignatureFailureTracker(_clock);
        for (var i = 0; i < 5000; i++)
            tracker.Record("ns", "auth", Alert, "bad_signature", $"forged-{i}", 1);
        tracker.Record("ns", "auth", Alert, "unknown_kid", "new", 30);

        var spike = tracker.Evaluate("ns", "auth", Alert);

        Assert.Equal(5030, spike.WindowCount);
        Assert.Equal(("unknown_kid", "new"), (spike.Reason, spike.Kid));
        Assert.InRange(tracker.RetainedCauses("ns", "auth"), 1, SignatureFailureTracker.MaxCausesPerSet);
    }

    [Fact]
    public void Since_counts_from_the_bucket_that_holds_it_a_tenth_of_the_window()
    {
        var tracker = new SignatureFailureTracker(_clock);
        tracker.Record("ns", "auth", Alert, "unknown_kid", "new", 100);
        _clock.Advance(Window / 10);
        var activated = _clock.GetUtcNow();
        tracker.Record("ns", "auth", Alert, "unknown_kid", "new", 25);

        Assert.Equal(25, tracker.Evaluate("ns", "auth", Alert, since: activated).WindowCount);
        Assert.Equal(125, tracker.Evaluate("ns", "auth", Alert).WindowCount);
    }

    [Fact]
    public void A_kid_longer_than_any_key_can_have_is_kept_shortened()
    {
        var tracker = new SignatureFailureTracker(_clock);
        tracker.Record("ns", "auth", Alert, "unknown_kid", new string('k', 128), 30);

        var spike = tracker.Evaluate("ns", "auth", Alert);

        Assert.Equal(new string('k', SignatureFailureTracker.MaxKidLength - 1) + "…", spike.Kid);
    }
}
