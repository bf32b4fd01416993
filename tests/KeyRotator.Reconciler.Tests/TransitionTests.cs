using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Testing;
using Xunit;
using static KeyRotator.Reconciler.Tests.ReconcileWorld;

namespace KeyRotator.Reconciler.Tests;

/// <summary>
/// Every transition of a set's keys, as writes in order against the in-memory world: the first key,
/// the converged set, pre-publication, activation, retirement, rotate-now, revocation and deletion.
/// </summary>
public sealed class TransitionTests
{
    internal static SigningKeySetBuilder Hourly(string name = Name) => ASet(name)
        .WithRotation(r => r with { Interval = "1h", PrePublish = "10m", Overlap = "20m" })
        .WithSpec(s => s with { MaxTokenLifetime = "15m", ClockSkew = "1m" });

    [Fact]
    public async Task The_first_key_is_stored_published_recorded_then_signs_in_six_writes_and_no_event()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly());

        var writes = await world.WritesOfOneReconcileAsync();

        Assert.Equal(
            [
                "replace SigningKeySet team/auth", // the finalizer, before anything is made
                "create Secret team/auth-keyrotator-keys",
                "create ConfigMap team/auth-jwks",
                "replace-status SigningKeySet team/auth",
            ],
            writes);
        // Published, and not signing before spec.rotation.prePublish has passed: no signing Secret names it yet.
        var kid = Assert.Single(world.StoredKids());
        Assert.Equal([kid], world.JwksKids());
        Assert.Equal((null, null), world.Signing());
        Assert.Null(world.Api.Stored<V1Secret>(Ns, "auth-signing"));
        Assert.Equal(kid, world.Set().Status!.NextKeyId);
        Assert.Null(world.Set().Status!.ActiveKeyId);
        Assert.Equal("PrePublishing", world.Condition(ConditionSet.Ready)!.Reason);
        Assert.Contains(Labels.Finalizer, world.Set().Metadata.Finalizers!);

        // Once it has been published for prePublish, it signs: the signing Secret is written before status says so,
        // and the JWKS, which lists the same key, is not written again.
        world.Time.Advance(TimeSpan.FromMinutes(10));
        var activation = await world.WritesOfOneReconcileAsync();
        Assert.Equal(["create Secret team/auth-signing", "replace-status SigningKeySet team/auth"], activation);
        Assert.Equal((kid, null), world.Signing());
        Assert.Equal(kid, world.Set().Status!.ActiveKeyId);
        Assert.Equal("True", world.Condition(ConditionSet.Ready)!.Status);

        // Status says all of it: the first key records no Event (a seventh write for every new set).
        Assert.Empty(world.EventReasons);
        Assert.Empty(await world.WritesOfOneReconcileAsync());
    }

    [Fact]
    public async Task A_jwks_configmap_that_still_names_the_active_kid_loses_the_annotation_once()
    {
        // Written by an operator before issue #34: the annotation would go on naming a key after it stops signing.
        await using var world = new ReconcileWorld();
        world.Apply(Hourly());
        var kid = await world.ConvergeAsync();
        world.Api.Change<V1ConfigMap>(Ns, "auth-jwks", cm => cm.Metadata.Annotations[Labels.ActiveKidAnnotation] = kid);

        Assert.Equal(["replace ConfigMap team/auth-jwks"], await world.WritesOfOneReconcileAsync());
        Assert.False(world.Api.Stored<V1ConfigMap>(Ns, "auth-jwks")!.Metadata.Annotations.ContainsKey(Labels.ActiveKidAnnotation));
        Assert.Equal([kid], world.JwksKids());
        Assert.Empty(await world.WritesOfOneReconcileAsync());
    }

    [Fact]
    public async Task A_converged_set_makes_no_writes()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly());
        await world.ConvergeAsync();
        await world.ReconcileAsync();

        Assert.Empty(await world.WritesOfOneReconcileAsync());
    }

    [Fact]
    public async Task A_rotation_pre_publishes_activates_after_pre_publish_and_retires_after_the_overlap()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly());
        var first = await world.ConvergeAsync();
        var rotation = world.Set().Status!.NextRotationTime!.Value;

        // Pre-publication: the next key is in every JWKS before the signing Secret names it, and it does not sign.
        world.Time.SetUtcNow(rotation - TimeSpan.FromMinutes(10));
        var prePublish = await world.WritesOfOneReconcileAsync();
        var next = world.StoredKids().Single(k => k != first);
        Assert.Equal(new[] { first, next }.Order(StringComparer.Ordinal), world.JwksKids()!.Order(StringComparer.Ordinal));
        Assert.Equal((first, next), world.Signing());
        AssertInOrder(prePublish, "replace Secret team/auth-keyrotator-keys", "replace ConfigMap team/auth-jwks", "replace Secret team/auth-signing", "replace-status SigningKeySet team/auth");

        // Activation at the rotation time: the signing Secret switches; the old key stays published.
        world.Time.SetUtcNow(rotation);
        var activation = await world.WritesOfOneReconcileAsync();
        Assert.Equal((next, null), world.Signing());
        Assert.Contains(first, world.JwksKids()!);
        Assert.Equal(next, world.Set().Status!.ActiveKeyId);
        Assert.DoesNotContain("replace ConfigMap team/auth-jwks", activation.SkipWhile(w => w != "replace Secret team/auth-signing"));

        // Retirement once the overlap has passed: the old key leaves the JWKS.
        world.Time.SetUtcNow(rotation + TimeSpan.FromMinutes(20));
        await world.ReconcileAsync();
        Assert.DoesNotContain(first, world.JwksKids()!);
        Assert.Contains(next, world.JwksKids()!);
    }

    [Fact]
    public async Task Rotate_now_makes_a_next_key_that_is_published_before_it_signs()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly());
        var first = await world.ConvergeAsync();

        world.Api.Change<KeyRotator.Model.Resources.V1Alpha1SigningKeySet>(Ns, Name, s => s.Metadata.Annotations = new Dictionary<string, string> { [Labels.RotateNowAnnotation] = "now-1" });
        var writes = await world.WritesOfOneReconcileAsync();

        var next = world.StoredKids().Single(k => k != first);
        Assert.Contains(next, world.JwksKids()!);
        Assert.Equal((first, next), world.Signing());
        AssertInOrder(writes, "replace ConfigMap team/auth-jwks", "replace Secret team/auth-signing", "replace-status SigningKeySet team/auth");
        Assert.Equal("now-1", world.Set().Status!.LastRotateNowRequest);
    }

    [Fact]
    public async Task Revoking_the_active_key_withdraws_it_from_the_jwks_and_the_signing_secret_before_status_says_so()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly());
        var revoked = await world.ConvergeAsync();

        world.Api.Change<KeyRotator.Model.Resources.V1Alpha1SigningKeySet>(Ns, Name, s => s.Spec = s.Spec with { RevokedKeyIds = [revoked] });
        var writes = await world.WritesOfOneReconcileAsync();

        Assert.DoesNotContain(revoked, world.JwksKids()!);
        Assert.NotEqual(revoked, world.Signing().Kid);
        AssertInOrder(writes, "replace ConfigMap team/auth-jwks", "replace Secret team/auth-signing", "replace-status SigningKeySet team/auth");
        world.AssertEvent("Warning KeyRevoked");
    }

    [Fact]
    public async Task A_deleted_set_loses_its_jwks_copies_and_keys_then_its_finalizer()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly().WithSpec(s => s with { DeletionPolicy = "Delete" }));
        await world.ConvergeAsync();

        world.Api.Change<KeyRotator.Model.Resources.V1Alpha1SigningKeySet>(Ns, Name, s => s.Metadata.DeletionTimestamp = world.Time.GetUtcNow().UtcDateTime);
        var writes = await world.WritesOfOneReconcileAsync();

        Assert.Null(world.Api.Stored<KeyRotator.Model.Resources.V1Alpha1SigningKeySet>(Ns, Name));
        Assert.Null(world.JwksKids());
        Assert.Empty(world.StoredKids());
        Assert.Equal("replace SigningKeySet team/auth", writes.Where(w => !w.Contains("Event", StringComparison.Ordinal)).Last());
    }

    internal static void AssertInOrder(IReadOnlyList<string> writes, params string[] expected)
    {
        var at = 0;
        foreach (var write in writes)
        {
            if (at < expected.Length && write == expected[at])
                at++;
        }

        Assert.True(at == expected.Length, $"expected, in this order: {string.Join(" → ", expected)}; the writes were: {string.Join(" → ", writes)}");
    }
}
