using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Resources;

namespace KeyRotator.Core.Tests.Lifecycle;

/// <summary>An unknown_kid spike on a freshly activated key sends signing back to the previous key.</summary>
public sealed class RollbackTests
{
    private const string SpikeText = "40 signature failures in the last 5m, mostly unknown_kid";
    private static readonly TimeSpan MaxDelay = TimeSpan.FromMinutes(10);

    /// <summary>Two rotations in: returns (new active kid, previous kid now Retiring).</summary>
    private static (RotationHarness Harness, string New, string Previous) Rotated()
    {
        var harness = new RotationHarness(RotationHarness.DefaultPolicy() with { MaxActivationDelay = MaxDelay });
        harness.Reconcile();
        harness.WakeUp();
        var previous = harness.Status!.ActiveKeyId!;
        harness.WakeUp();
        harness.WakeUp();
        var active = harness.Status!.ActiveKeyId!;
        Assert.NotEqual(previous, active);
        Assert.Equal(KeyState.Retiring, harness.Key(previous).State);
        return (harness, active, previous);
    }

    [Fact]
    public void Signing_returns_to_the_previous_key_the_new_one_stays_published_and_activates_again_once_verifiers_hold_it()
    {
        var (harness, fresh, previous) = Rotated();
        harness.Propagation = new PropagationStatus { Verifiers = 3, VerifiersWithActiveKey = 2, StaleVerifiers = ["sa/v3"] };
        harness.Spike = SpikeText;

        var rolledBack = harness.Reconcile();
        Assert.Equal(previous, rolledBack.ActiveKeyId);
        Assert.Equal(fresh, rolledBack.Status.NextKeyId);
        Assert.Contains(fresh, rolledBack.PublishedKeyIds);
        Assert.Null(harness.Key(previous).RetiresAt);
        Assert.Equal(harness.Now, harness.Key(fresh).RolledBackAt);
        Assert.Equal(RotationTriggers.Rollback, rolledBack.RotationTrigger);
        var condition = ConditionSet.Find(rolledBack.Status.Conditions, ConditionSet.RolledBack)!;
        Assert.Equal("True", condition.Status);
        Assert.Contains(SpikeText, condition.Message, StringComparison.Ordinal);
        Assert.Contains("sa/v3", condition.Message, StringComparison.Ordinal);
        Assert.Single(harness.Events, e => e.Reason == "RolledBack");

        // The spike is now about a key that does not sign; verifiers still lag: it waits, and does not loop.
        harness.Propagation = new PropagationStatus { Verifiers = 3, VerifiersWithActiveKey = 3, VerifiersWithNextKey = 2, StaleVerifiers = ["sa/v3"] };
        harness.Spike = null;
        harness.Clock.Advance(TimeSpan.FromMinutes(1));
        var waiting = harness.Reconcile();
        Assert.Equal(previous, waiting.ActiveKeyId);
        Assert.Equal("WaitingForVerifiers", ConditionSet.Find(waiting.Status.Conditions, ConditionSet.Rotating)!.Reason);
        Assert.True(waiting.NextWakeTime > harness.Now);

        // Every verifier holds it now: it signs again, the previous key retires after a full overlap.
        harness.Propagation = new PropagationStatus { Verifiers = 3, VerifiersWithActiveKey = 3, VerifiersWithNextKey = 3 };
        var again = harness.Reconcile();
        Assert.Equal(fresh, again.ActiveKeyId);
        Assert.Equal(harness.Now + harness.Policy.Overlap, harness.Key(previous).RetiresAt);
        Assert.Equal("False", ConditionSet.Find(again.Status.Conditions, ConditionSet.RolledBack)!.Status);
    }

    [Fact]
    public void A_rollback_whose_status_was_never_written_keeps_the_key_that_signed_it_published_a_whole_overlap()
    {
        var (harness, fresh, previous) = Rotated();
        var recorded = harness.Status;
        harness.Spike = SpikeText;
        harness.Reconcile();
        // The signing Secret went back to the previous key; the status write after it was refused.
        harness.Status = recorded;
        harness.SigningKid = previous;
        harness.Spike = null;
        harness.Clock.Advance(harness.Policy.Overlap + TimeSpan.FromMinutes(1));

        var plan = harness.Reconcile();

        // Status still says the previous key stopped signing an overlap ago; the Secret says it signed until now.
        Assert.Equal(fresh, plan.ActiveKeyId);
        Assert.Contains(previous, plan.PublishedKeyIds);
        Assert.Equal(harness.Now + harness.Policy.Overlap, harness.Key(previous).RetiresAt);
        Assert.Contains(harness.Events, e => e.Reason == "SigningSecretAhead" && e.Message.Contains(previous, StringComparison.Ordinal));

        // Once the Secret names the active key again, the previous key retires when that overlap ends.
        harness.SigningKid = fresh;
        harness.Clock.Advance(harness.Policy.Overlap);
        Assert.DoesNotContain(previous, harness.Reconcile().PublishedKeyIds);
    }

    [Fact]
    public void With_nobody_reporting_a_rolled_back_key_waits_for_maxActivationDelay()
    {
        var (harness, fresh, previous) = Rotated();
        harness.Spike = SpikeText;
        harness.Reconcile();
        harness.Spike = null;
        var rolledBackAt = harness.Key(fresh).RolledBackAt!.Value;

        harness.Clock.SetUtcNow(rolledBackAt + MaxDelay - TimeSpan.FromSeconds(1));
        Assert.Equal(previous, harness.Reconcile().ActiveKeyId);
        harness.Clock.SetUtcNow(rolledBackAt + MaxDelay);
        Assert.Equal(fresh, harness.Reconcile().ActiveKeyId);
    }

    [Fact]
    public void Never_onto_a_revoked_or_retired_key_never_when_every_verifier_holds_the_key_and_never_when_forbidden()
    {
        var (revokedCase, _, revokedPrevious) = Rotated();
        revokedCase.Policy = revokedCase.Policy with { RevokedKeyIds = new HashSet<string> { revokedPrevious } };
        revokedCase.Reconcile();
        revokedCase.Spike = SpikeText;
        var active = revokedCase.Status!.ActiveKeyId;
        Assert.Equal(active, revokedCase.Reconcile().ActiveKeyId);
        Assert.DoesNotContain(revokedCase.Events, e => e.Reason == "RolledBack");

        var (retiredCase, retiredActive, retiredPrevious) = Rotated();
        retiredCase.Clock.SetUtcNow(retiredCase.Key(retiredPrevious).RetiresAt!.Value);
        retiredCase.Spike = SpikeText;
        Assert.Equal(retiredActive, retiredCase.Reconcile().ActiveKeyId);

        var (confirmed, confirmedActive, _) = Rotated();
        confirmed.Propagation = new PropagationStatus { Verifiers = 3, VerifiersWithActiveKey = 3 };
        confirmed.Spike = SpikeText;
        Assert.Equal(confirmedActive, confirmed.Reconcile().ActiveKeyId); // every verifier holds it: old news

        var (forbidden, forbiddenActive, _) = Rotated();
        forbidden.NoRollbackKid = forbiddenActive;
        forbidden.Spike = SpikeText;
        Assert.Equal(forbiddenActive, forbidden.Reconcile().ActiveKeyId);
    }
}
