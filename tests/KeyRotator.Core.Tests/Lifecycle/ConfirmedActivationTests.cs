using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Resources;

namespace KeyRotator.Core.Tests.Lifecycle;

/// <summary>activation: Confirmed — a due key waits (bounded) for the verifiers heard to hold it; retiring keys wait (bounded) for signers.</summary>
public sealed class ConfirmedActivationTests
{
    private static readonly TimeSpan MaxDelay = TimeSpan.FromMinutes(10);

    private static RotationHarness Harness(bool activateOnTimeout = true) =>
        new(RotationHarness.DefaultPolicy() with { ConfirmedActivation = true, MaxActivationDelay = MaxDelay, ActivateOnTimeout = activateOnTimeout });

    /// <summary>Bootstraps, then publishes the next key: returns the pending key, whose due time has not come yet.</summary>
    private static string Pending(RotationHarness harness)
    {
        harness.Reconcile();
        harness.WakeUp();
        harness.WakeUp();
        return harness.Status!.NextKeyId ?? throw new InvalidOperationException("no pending key");
    }

    private static PropagationStatus Verifiers(int seen, int holdingNext, params string[] stale) => new()
    {
        Verifiers = seen,
        VerifiersWithActiveKey = seen,
        VerifiersWithNextKey = holdingNext,
        StaleVerifiers = stale.Length == 0 ? null : stale,
    };

    [Fact]
    public void A_due_key_waits_for_a_stale_verifier_then_activates_at_maxActivationDelay_saying_who_was_stale()
    {
        var harness = Harness();
        var next = Pending(harness);
        var due = harness.Key(next).ActivatesAt!.Value;
        harness.Propagation = Verifiers(3, 2, "sa/v3");

        harness.Clock.SetUtcNow(due);
        var waiting = harness.Reconcile();
        Assert.Equal(next, waiting.Status.NextKeyId);
        Assert.Null(waiting.RotationTrigger);
        Assert.Equal(due + MaxDelay, waiting.NextWakeTime);
        var rotating = ConditionSet.Find(waiting.Status.Conditions, ConditionSet.Rotating)!;
        Assert.Equal("WaitingForVerifiers", rotating.Reason);
        Assert.Contains("2 of 3 verifiers hold key", rotating.Message, StringComparison.Ordinal);
        Assert.Contains("sa/v3", rotating.Message, StringComparison.Ordinal);
        Assert.False(ConditionSet.IsTrue(waiting.Status.Conditions, ConditionSet.PropagationIncomplete));

        harness.Clock.SetUtcNow(due + MaxDelay - TimeSpan.FromSeconds(1));
        Assert.Equal(next, harness.Reconcile().Status.NextKeyId);

        harness.Clock.SetUtcNow(due + MaxDelay);
        var activated = harness.Reconcile();
        Assert.Equal(next, activated.ActiveKeyId);
        var incomplete = ConditionSet.Find(activated.Status.Conditions, ConditionSet.PropagationIncomplete)!;
        Assert.Equal("True", incomplete.Status);
        Assert.Equal("VerifiersStale", incomplete.Reason);
        Assert.Contains("sa/v3", incomplete.Message, StringComparison.Ordinal);
        Assert.Single(harness.Events, e => e.Reason == "PropagationIncomplete");

        // Afterwards the stale verifier lacks the key that signs: still said, with no second Event.
        harness.Propagation = new PropagationStatus { Verifiers = 3, VerifiersWithActiveKey = 2, StaleVerifiers = ["sa/v3"] };
        var after = harness.Reconcile();
        Assert.Contains("do not hold the active key", ConditionSet.Find(after.Status.Conditions, ConditionSet.PropagationIncomplete)!.Message, StringComparison.Ordinal);
        Assert.Single(harness.Events, e => e.Reason == "PropagationIncomplete");
        harness.Propagation = new PropagationStatus { Verifiers = 3, VerifiersWithActiveKey = 3 };
        Assert.Equal("False", ConditionSet.Find(harness.Reconcile().Status.Conditions, ConditionSet.PropagationIncomplete)!.Status);
    }

    [Fact]
    public void With_onTimeout_Wait_the_key_keeps_waiting_past_the_bound_and_the_Event_is_recorded_once()
    {
        var harness = Harness(activateOnTimeout: false);
        var next = Pending(harness);
        var due = harness.Key(next).ActivatesAt!.Value;
        harness.Propagation = Verifiers(3, 2, "sa/v3");

        harness.Clock.SetUtcNow(due + MaxDelay);
        var held = harness.Reconcile();
        Assert.Equal(next, held.Status.NextKeyId);
        Assert.True(ConditionSet.IsTrue(held.Status.Conditions, ConditionSet.PropagationIncomplete));
        Assert.True(held.NextWakeTime > harness.Now, "no hot loop while waiting");

        harness.Clock.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(next, harness.Reconcile().Status.NextKeyId);
        Assert.Single(harness.Events, e => e.Reason == "PropagationIncomplete");

        // The stale verifier reloads: the key activates, and the condition clears.
        harness.Propagation = Verifiers(3, 3);
        var activated = harness.Reconcile();
        Assert.Equal(next, activated.ActiveKeyId);
        Assert.Equal("False", ConditionSet.Find(activated.Status.Conditions, ConditionSet.PropagationIncomplete)!.Status);
    }

    [Fact]
    public void When_every_verifier_holds_the_key_or_none_reports_it_activates_at_its_due_time()
    {
        foreach (var propagation in new[] { Verifiers(3, 3), null })
        {
            var harness = Harness();
            var next = Pending(harness);
            var due = harness.Key(next).ActivatesAt!.Value;
            harness.Propagation = propagation;

            harness.Clock.SetUtcNow(due);
            Assert.Equal(next, harness.Reconcile().ActiveKeyId);
            Assert.DoesNotContain(harness.Events, e => e.Reason == "PropagationIncomplete");
        }
    }

    [Fact]
    public void A_revoked_active_key_is_replaced_at_once_whatever_verifiers_hold()
    {
        var harness = Harness();
        var next = Pending(harness);
        harness.Propagation = Verifiers(3, 0, "a", "b", "c");
        harness.Policy = harness.Policy with { RevokedKeyIds = new HashSet<string> { harness.Status!.ActiveKeyId! } };

        Assert.Equal(next, harness.Reconcile().ActiveKeyId);
    }

    [Fact]
    public void A_signer_that_has_not_switched_keeps_the_old_key_published_past_its_overlap_up_to_the_bound()
    {
        var harness = new RotationHarness(RotationHarness.DefaultPolicy() with { MaxActivationDelay = MaxDelay });
        var next = Pending(harness);
        var old = harness.Status!.ActiveKeyId!;
        harness.Clock.SetUtcNow(harness.Key(next).ActivatesAt!.Value);
        harness.Reconcile();
        var activatedAt = harness.Key(next).ActivatedAt!.Value;
        var overlap = harness.Policy.Overlap;
        Assert.Equal(activatedAt + overlap, harness.Key(old).RetiresAt);
        harness.Propagation = new PropagationStatus { Signers = 2, SignersOnActiveKey = 1, StaleSigners = ["sa/signer-2"] };

        harness.Clock.SetUtcNow(activatedAt + overlap);
        var kept = harness.Reconcile();
        Assert.Contains(old, kept.PublishedKeyIds);
        Assert.Equal(activatedAt + overlap + MaxDelay, harness.Key(old).RetiresAt); // now + overlap, capped at the bound
        var incomplete = ConditionSet.Find(kept.Status.Conditions, ConditionSet.PropagationIncomplete)!;
        Assert.Equal("SignersNotSwitched", incomplete.Reason);
        Assert.Contains("sa/signer-2", incomplete.Message, StringComparison.Ordinal);
        Assert.Single(harness.Events, e => e.Reason == "SignersNotSwitched");

        // At the bound the key retires even though the signer never switched.
        harness.Clock.SetUtcNow(activatedAt + overlap + MaxDelay);
        Assert.DoesNotContain(old, harness.Reconcile().PublishedKeyIds);
    }
}
