// Longer than 300 lines: a table of the planner's rules, one short test each.
using KeyRotator.Core.Lifecycle;

namespace KeyRotator.Core.Tests.Lifecycle;

public sealed class RotationPlannerTests
{
    private static readonly TimeSpan PrePublish = TimeSpan.FromMinutes(15);
    private static readonly TimeSpan Overlap = TimeSpan.FromHours(2);
    private static readonly TimeSpan Interval = TimeSpan.FromHours(24);

    [Fact]
    public void New_set_asks_the_vault_for_generation_one_first()
    {
        var harness = new RotationHarness();

        var plan = harness.Plan();

        Assert.Equal(1, plan.CreateGeneration);
        Assert.Empty(plan.PublishedKeyIds);
        Assert.Equal(harness.Now, plan.NextWakeTime);
    }

    [Fact]
    public void First_key_is_pre_published_before_it_signs()
    {
        var harness = new RotationHarness();

        var plan = harness.Reconcile();

        var first = Assert.Single(plan.PublishedKeyIds);
        Assert.Null(plan.ActiveKeyId);
        Assert.Equal(first, plan.Status.NextKeyId);
        Assert.Equal(harness.Now + PrePublish, harness.Key(first).ActivatesAt);
        Assert.Equal("False", ConditionSet.Find(plan.Status.Conditions, ConditionSet.Ready)!.Status);
        Assert.Equal("PrePublishing", ConditionSet.Find(plan.Status.Conditions, ConditionSet.Ready)!.Reason);

        harness.Clock.Advance(PrePublish - TimeSpan.FromSeconds(1));
        Assert.Null(harness.Reconcile().ActiveKeyId);

        harness.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(first, harness.Reconcile().ActiveKeyId);
        Assert.True(ConditionSet.IsTrue(harness.Status!.Conditions, ConditionSet.Ready));
    }

    [Fact]
    public void A_prePublish_raised_while_a_key_waits_defers_its_activation_and_says_so()
    {
        // Found by the planner walk: the pending key kept the activation time of the old, shorter prePublish.
        var harness = new RotationHarness();
        var first = Assert.Single(harness.Reconcile().PublishedKeyIds);
        var publishedAt = harness.Now;
        harness.Policy = harness.Policy with { PrePublish = PrePublish * 3 };

        harness.Clock.Advance(PrePublish);
        var plan = harness.Reconcile();

        Assert.Null(plan.ActiveKeyId);
        Assert.Equal(publishedAt + PrePublish * 3, harness.Key(first).ActivatesAt);
        Assert.Contains(plan.Events, e => e.Reason == "ActivationDeferred" && e.Message.Contains(first, StringComparison.Ordinal));
        harness.Clock.SetUtcNow(publishedAt + PrePublish * 3);
        Assert.Equal(first, harness.Reconcile().ActiveKeyId);
    }

    [Fact]
    public void Next_key_is_published_prePublish_before_the_rotation_is_due()
    {
        var harness = Bootstrapped(out var first);
        var activatedAt = harness.Key(first).ActivatedAt!.Value;

        harness.Clock.SetUtcNow(activatedAt + Interval - PrePublish - TimeSpan.FromSeconds(1));
        Assert.Single(harness.Reconcile().PublishedKeyIds);

        harness.Clock.Advance(TimeSpan.FromSeconds(1));
        var plan = harness.Reconcile();

        Assert.Equal(2, plan.PublishedKeyIds.Count);
        Assert.Equal(first, plan.PublishedKeyIds[0]);
        var second = plan.Status.NextKeyId!;
        Assert.Equal(activatedAt + Interval, harness.Key(second).ActivatesAt);
        Assert.True(ConditionSet.IsTrue(plan.Status.Conditions, ConditionSet.Rotating));
    }

    [Fact]
    public void Rotation_keeps_previous_key_until_overlap_ends()
    {
        var harness = Bootstrapped(out var first);
        harness.WakeUp(); // publishes the second key
        var plan = harness.WakeUp(); // activates it
        var second = plan.ActiveKeyId!;
        var rotatedAt = harness.Now;

        Assert.NotEqual(first, second);
        Assert.Equal([second, first], plan.PublishedKeyIds);
        Assert.Equal(KeyState.Retiring, harness.Key(first).State);
        Assert.Equal(rotatedAt + Overlap, harness.Key(first).RetiresAt);

        harness.Clock.SetUtcNow(rotatedAt + Overlap - TimeSpan.FromSeconds(1));
        Assert.Contains(first, harness.Reconcile().PublishedKeyIds);

        harness.Clock.SetUtcNow(rotatedAt + Overlap);
        plan = harness.Reconcile();
        Assert.Equal([second], plan.PublishedKeyIds);
        Assert.Equal(KeyState.Retired, harness.Key(first).State);
        Assert.Equal([first], harness.LastCleanup!.Disable);
        Assert.Contains(plan.Events, e => e.Reason == "KeyRetired" && e.Message.Contains(first, StringComparison.Ordinal));
    }

    [Fact]
    public void Every_key_is_published_prePublish_before_signing_and_overlap_after_across_many_rotations()
    {
        var harness = new RotationHarness();
        var publishedAt = new Dictionary<string, DateTimeOffset>();
        var signedUntil = new Dictionary<string, DateTimeOffset>();
        var unpublishedAt = new Dictionary<string, DateTimeOffset>();
        string? previousActive = null;
        harness.Reconcile();

        for (var step = 0; step < 60; step++)
        {
            var plan = harness.LastPlan!;
            foreach (var kid in plan.PublishedKeyIds)
                publishedAt.TryAdd(kid, harness.Now);
            foreach (var kid in publishedAt.Keys.Except(plan.PublishedKeyIds))
                unpublishedAt.TryAdd(kid, harness.Now);
            if (plan.ActiveKeyId != previousActive)
            {
                Assert.NotNull(plan.ActiveKeyId);
                Assert.True(harness.Now - publishedAt[plan.ActiveKeyId] >= PrePublish, "published at least prePublish before signing");
                if (previousActive is not null)
                    signedUntil[previousActive] = harness.Now;
                previousActive = plan.ActiveKeyId;
            }

            if (previousActive is not null)
                Assert.Contains(previousActive, plan.PublishedKeyIds);
            harness.WakeUp();
        }

        Assert.True(signedUntil.Count >= 10, $"only {signedUntil.Count} rotations");
        foreach (var (kid, stopped) in signedUntil.Where(s => unpublishedAt.ContainsKey(s.Key)))
            Assert.True(unpublishedAt[kid] - stopped >= Overlap, $"{kid} left {unpublishedAt[kid] - stopped} after it stopped signing");
    }

    [Fact]
    public void Steady_state_plans_the_same_status_and_no_events()
    {
        var harness = Bootstrapped(out _);
        harness.Clock.Advance(TimeSpan.FromHours(1));

        var first = harness.Plan();
        var second = harness.Plan();

        Assert.Empty(first.Events);
        Assert.Null(first.CreateGeneration);
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(harness.Status), System.Text.Json.JsonSerializer.Serialize(first.Status));
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(first.Status), System.Text.Json.JsonSerializer.Serialize(second.Status));
    }

    [Fact]
    public void Revoking_the_active_key_unpublishes_it_at_once_and_forces_a_replacement()
    {
        var harness = Bootstrapped(out var first);
        harness.Clock.Advance(TimeSpan.FromHours(1));
        harness.Policy = harness.Policy with { RevokedKeyIds = new HashSet<string> { first } };

        var plan = harness.Reconcile();

        Assert.DoesNotContain(first, plan.PublishedKeyIds);
        Assert.NotNull(plan.ActiveKeyId);
        Assert.NotEqual(first, plan.ActiveKeyId);
        Assert.Equal(KeyState.Revoked, harness.Key(first).State);
        Assert.Contains(first, harness.LastCleanup!.Disable);
        Assert.Contains(plan.Events, e => e.Reason == "KeyRevoked" && e.Type == "Warning");
        Assert.Contains(plan.Events, e => e.Reason == "ForcedRotation" && e.Message.Contains("revoked", StringComparison.Ordinal));
    }

    [Fact]
    public void Revoking_the_active_key_while_a_key_is_pending_activates_the_pending_key()
    {
        var harness = Bootstrapped(out var first);
        var pending = harness.WakeUp().Status.NextKeyId!;
        harness.Policy = harness.Policy with { RevokedKeyIds = new HashSet<string> { first } };

        var plan = harness.Reconcile();

        Assert.Equal(pending, plan.ActiveKeyId);
        Assert.Equal([pending], plan.PublishedKeyIds);
    }

    [Fact]
    public void Revoked_key_never_signs_again_even_if_it_was_pending()
    {
        var harness = Bootstrapped(out var first);
        var pending = harness.WakeUp().Status.NextKeyId!;
        harness.Policy = harness.Policy with { RevokedKeyIds = new HashSet<string> { pending } };

        var plan = harness.Reconcile();
        Assert.Equal(first, plan.ActiveKeyId);
        Assert.DoesNotContain(pending, plan.PublishedKeyIds);

        for (var i = 0; i < 5; i++)
            Assert.NotEqual(pending, harness.WakeUp().ActiveKeyId);
    }

    [Fact]
    public void Revoking_a_retiring_key_removes_it_before_its_overlap_ends()
    {
        var harness = Bootstrapped(out var first);
        harness.WakeUp();
        harness.WakeUp();
        Assert.Equal(KeyState.Retiring, harness.Key(first).State);
        harness.Policy = harness.Policy with { RevokedKeyIds = new HashSet<string> { first } };

        var plan = harness.Reconcile();

        Assert.DoesNotContain(first, plan.PublishedKeyIds);
        Assert.DoesNotContain(plan.Events, e => e.Reason == "ForcedRotation");
    }

    [Fact]
    public void Rotate_now_publishes_a_key_at_once_and_activates_it_after_prePublish_once_per_request()
    {
        var harness = Bootstrapped(out var first);
        harness.Clock.Advance(TimeSpan.FromHours(1));
        harness.RotateNow = "2026-11-28T13:00";

        var plan = harness.Reconcile();
        var next = plan.Status.NextKeyId!;
        Assert.Equal(harness.Now + PrePublish, harness.Key(next).ActivatesAt);
        Assert.Equal("2026-11-28T13:00", plan.Status.LastRotateNowRequest);

        harness.Clock.Advance(PrePublish);
        Assert.Equal(next, harness.Reconcile().ActiveKeyId);

        // The same annotation value does not rotate again.
        harness.Clock.Advance(TimeSpan.FromHours(1));
        Assert.Null(harness.Reconcile().Status.NextKeyId);
        Assert.Equal(next, harness.Status!.ActiveKeyId);
        Assert.NotEqual(first, next);
    }

    [Fact]
    public void Key_created_in_the_vault_before_a_crash_is_adopted_not_created_again()
    {
        var harness = Bootstrapped(out _);
        harness.Clock.SetUtcNow(harness.Status!.NextRotationTime!.Value - PrePublish);
        var plan = harness.Plan();
        Assert.Equal(2, plan.CreateGeneration);

        // The reconcile created generation 2 and crashed before writing status.
        var key = KeyRotator.Core.Keys.PrivateSigningKey.Generate(harness.Policy.Algorithm, 2048);
        harness.Vault.Add(new StoredKey(key.PublicJwk, 2, harness.Now, "secret:key-2"));
        harness.Clock.Advance(TimeSpan.FromSeconds(30));

        plan = harness.Reconcile();

        Assert.Null(plan.CreateGeneration);
        Assert.Equal(key.Kid, plan.Status.NextKeyId);
        Assert.Equal(2, harness.Vault.Count);
    }

    [Fact]
    public void Clock_jumping_back_activates_nothing_early()
    {
        var harness = Bootstrapped(out var first);
        harness.WakeUp();
        var pending = harness.Status!.NextKeyId!;
        harness.JumpClockBackTo(harness.Now - TimeSpan.FromDays(3));

        var plan = harness.Reconcile();

        Assert.Equal(first, plan.ActiveKeyId);
        Assert.Equal(pending, plan.Status.NextKeyId);
    }

    [Fact]
    public void Clock_jumping_forward_rotates_once_and_still_pre_publishes()
    {
        var harness = Bootstrapped(out var first);
        harness.Clock.Advance(TimeSpan.FromDays(10));

        var plan = harness.Reconcile();

        Assert.Equal(first, plan.ActiveKeyId);
        var next = plan.Status.NextKeyId!;
        Assert.Equal(harness.Now + PrePublish, harness.Key(next).ActivatesAt);
        Assert.Equal(2, harness.Vault.Count);
    }

    [Fact]
    public void History_is_bounded_and_pruned_keys_are_deleted_under_the_Delete_policy()
    {
        var harness = new RotationHarness(RotationHarness.DefaultPolicy() with { DeleteKeysOnRemoval = true, RetiredKeyHistory = 2 });
        harness.Reconcile();
        var deleted = new List<string>();
        for (var i = 0; i < 40; i++)
        {
            harness.WakeUp();
            deleted.AddRange(harness.LastCleanup!.Delete);
        }

        Assert.True(harness.KidsIn(KeyState.Retired).Count() <= 2);
        Assert.NotEmpty(deleted);
        Assert.All(deleted, kid => Assert.DoesNotContain(harness.Status!.Keys!, k => k.Kid == kid));
    }

    [Fact]
    public void Interval_change_reschedules_from_the_last_rotation()
    {
        var harness = Bootstrapped(out _);
        var last = harness.Status!.LastRotationTime!.Value;

        harness.Policy = harness.Policy with { Interval = TimeSpan.FromHours(48) };
        var plan = harness.Reconcile();

        Assert.Equal(last + TimeSpan.FromHours(48), plan.Status.NextRotationTime);
        Assert.Equal(last + TimeSpan.FromHours(48) - PrePublish, plan.NextWakeTime);
    }

    [Fact]
    public void Each_activation_names_its_trigger()
    {
        var harness = new RotationHarness();
        harness.Reconcile();
        Assert.Equal(RotationTriggers.Initial, harness.WakeUp().RotationTrigger);

        harness.WakeUp();
        Assert.Equal(RotationTriggers.Scheduled, harness.WakeUp().RotationTrigger);

        harness.RotateNow = "once";
        harness.Reconcile();
        harness.Clock.Advance(PrePublish);
        Assert.Equal(RotationTriggers.Manual, harness.Reconcile().RotationTrigger);

        harness.Policy = harness.Policy with { RevokedKeyIds = new HashSet<string> { harness.Status!.ActiveKeyId! } };
        Assert.Equal(RotationTriggers.Revocation, harness.Reconcile().RotationTrigger);
        Assert.Null(harness.Reconcile().RotationTrigger);
    }

    private static RotationHarness Bootstrapped(out string firstKid)
    {
        var harness = new RotationHarness();
        harness.Reconcile();
        harness.WakeUp();
        firstKid = harness.Status!.ActiveKeyId!;
        return harness;
    }
}
