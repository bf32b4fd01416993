using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Resources;

namespace KeyRotator.Core.Tests.Lifecycle;

public sealed class WakePolicyTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);
    private static readonly SpikeSignal Quiet = new(false, "", 0, TimeSpan.FromMinutes(5));
    private static readonly WakeFacts Nothing = new(Quiet, null, null, false);

    [Theory]
    [InlineData(Reasons.NameConflict, true)]
    [InlineData(Reasons.VaultNotGranted, true)]
    [InlineData(Reasons.InvalidSpec, false)]
    public void A_hold_that_can_clear_without_the_set_changing_is_looked_at_again_in_30_seconds(string reason, bool looksAgain)
    {
        var wake = WakePolicy.Held(new StepFailure(StepFailureKind.Held, reason, ""), null, Now);

        Assert.Equal(looksAgain ? Now + TimeSpan.FromSeconds(30) : null, wake);
    }

    [Fact]
    public void A_retiring_key_wakes_a_held_set_when_its_overlap_ends()
    {
        var retires = Now + TimeSpan.FromSeconds(5);

        Assert.Equal(retires, WakePolicy.Held(new StepFailure(StepFailureKind.Held, Reasons.NameConflict, ""), retires, Now));
    }

    [Fact]
    public void A_quiet_set_wakes_at_its_plans_next_transition()
    {
        Assert.Equal(Now + TimeSpan.FromHours(1), WakePolicy.Moved(Moved(Now + TimeSpan.FromHours(1)), Nothing, Now));
    }

    [Fact]
    public void A_key_still_being_made_leaves_only_the_timed_transitions()
    {
        var moved = Moved(Now, timed: Now + TimeSpan.FromMinutes(10)) with { KeyPending = true };

        Assert.Equal(Now + TimeSpan.FromMinutes(10), WakePolicy.Moved(moved, Nothing, Now));
    }

    [Fact]
    public void Reported_failures_bring_the_next_look_within_a_tenth_of_the_window_or_30_seconds()
    {
        var moved = Moved(Now + TimeSpan.FromHours(1));

        Assert.Equal(Now + TimeSpan.FromSeconds(30), WakePolicy.Moved(moved, Nothing with { Spike = Quiet with { WindowCount = 3 } }, Now));
        Assert.Equal(Now + TimeSpan.FromSeconds(6), WakePolicy.Moved(moved, Nothing with { Spike = new SpikeSignal(true, "", 9, TimeSpan.FromMinutes(1)) }, Now));
    }

    [Fact]
    public void A_reporter_dropping_out_of_the_window_and_a_skipped_copy_wake_the_set()
    {
        var moved = Moved(Now + TimeSpan.FromHours(1));

        Assert.Equal(Now + TimeSpan.FromSeconds(11), WakePolicy.Moved(moved, Nothing with { NextReporterExpiry = Now + TimeSpan.FromSeconds(10) }, Now));
        Assert.Equal(Now + TimeSpan.FromSeconds(30), WakePolicy.Moved(moved with { Skipped = [new SkippedTarget { Namespace = "web", Reason = "NotAccepted", Message = "" }] }, Nothing, Now));
    }

    [Fact]
    public void External_documents_are_checked_again_every_max_age()
    {
        var wake = WakePolicy.Moved(Moved(Now + TimeSpan.FromHours(1)), Nothing with { PublishesExternally = true }, Now);

        Assert.NotNull(wake);
        Assert.True(wake <= Now + CachePolicy.MaxAgeCeiling, $"{wake}");
    }

    [Fact]
    public void A_held_set_waits_for_a_change_and_is_looked_at_again_when_its_hold_can_clear()
    {
        var hold = new StepFailure(StepFailureKind.Held, Reasons.NameConflict, "taken");

        var decision = WakePolicy.After(new StepOutcome.Held(NoWithdrawal, hold), null, Now);

        Assert.Equal(new RetryDecision(RetryKind.Terminal, Now + WakePolicy.ClearCheck, hold), decision);
    }

    [Fact]
    public void A_degraded_hold_a_refused_withdrawal_and_a_key_the_vault_could_not_make_are_retried_with_backoff()
    {
        var failure = new StepFailure(StepFailureKind.Degraded, Reasons.PublishFailed, "refused");
        var hold = new StepFailure(StepFailureKind.Held, Reasons.InvalidSpec, "invalid");

        Assert.Equal(new RetryDecision(RetryKind.Retryable, Error: failure), WakePolicy.After(new StepOutcome.Held(NoWithdrawal, failure), null, Now));
        Assert.Equal(new RetryDecision(RetryKind.Retryable, Error: failure), WakePolicy.After(new StepOutcome.NotWithdrawn(hold, failure), null, Now));
        Assert.Equal(new RetryDecision(RetryKind.Retryable, Error: failure), WakePolicy.After(Moved(Now + TimeSpan.FromHours(1)) with { VaultError = failure }, Nothing, Now));
    }

    [Fact]
    public void The_first_key_still_being_made_wakes_the_set_itself_and_an_unsettled_plan_is_looked_at_again_at_once()
    {
        Assert.Equal(new RetryDecision(RetryKind.Done), WakePolicy.After(new StepOutcome.WaitingForFirstKey(), null, Now));
        Assert.Equal(new RetryDecision(RetryKind.At, Now), WakePolicy.After(new StepOutcome.Unsettled(), null, Now));
        Assert.Equal(new RetryDecision(RetryKind.At, Now), WakePolicy.StatusNotWritten(Now));
    }

    [Fact]
    public void A_moved_plan_wakes_at_its_next_transition()
    {
        Assert.Equal(new RetryDecision(RetryKind.At, Now + TimeSpan.FromHours(1)), WakePolicy.After(Moved(Now + TimeSpan.FromHours(1)), Nothing, Now));
    }

    private static readonly Withdrawal NoWithdrawal = new(new SigningKeySetStatus(), new HashSet<string>(StringComparer.Ordinal), [], null);

    private static StepOutcome.Moved Moved(DateTimeOffset next, DateTimeOffset? timed = null) =>
        new(new RotationPlan { Status = new SigningKeySetStatus(), PublishedKeyIds = [], NextWakeTime = next, NextTimedWakeTime = timed ?? next }, [], null, false, [], VaultCleanup.None);
}
