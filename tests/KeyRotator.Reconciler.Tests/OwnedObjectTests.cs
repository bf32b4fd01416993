using System.Net;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Vault;
using Xunit;
using static KeyRotator.Reconciler.Tests.ReconcileWorld;
using static KeyRotator.Reconciler.Tests.TransitionTests;

namespace KeyRotator.Reconciler.Tests;

/// <summary>
/// What becomes of the objects a set owns when its spec moves them (a namespace dropped, a name
/// changed), when a copy's name is taken elsewhere, when it is deleted under Retain, and when the
/// vault's history is pruned; and that Events never hold a reconcile up.
/// </summary>
public sealed class OwnedObjectTests
{
    [Fact]
    public async Task A_namespace_dropped_from_target_namespaces_loses_its_copy()
    {
        await using var world = new ReconcileWorld();
        world.Api.Seed(new V1Namespace { Metadata = new V1ObjectMeta { Name = "api", Annotations = new Dictionary<string, string> { [Labels.AcceptJwksFromAnnotation] = Ns } } });
        world.Apply(Hourly().WithSpec(s => s with { Jwks = new JwksSpec { TargetNamespaces = ["api"] } }));
        await world.ConvergeAsync();
        Assert.NotNull(world.JwksKids("api"));

        world.Api.Change<V1Alpha1SigningKeySet>(Ns, Name, s => s.Spec = s.Spec with { Jwks = new JwksSpec() });
        var writes = await world.WritesOfOneReconcileAsync();

        Assert.Contains("delete ConfigMap api/auth-jwks", writes);
        Assert.Null(world.JwksKids("api"));
        Assert.NotNull(world.JwksKids());
    }

    [Fact]
    public async Task A_copy_whose_name_is_taken_in_another_namespace_degrades_the_set_and_leaves_that_object_alone()
    {
        await using var world = new ReconcileWorld();
        world.Api.Seed(new V1Namespace { Metadata = new V1ObjectMeta { Name = "api", Annotations = new Dictionary<string, string> { [Labels.AcceptJwksFromAnnotation] = Ns } } });
        world.Api.Seed(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "auth-jwks", NamespaceProperty = "api" }, Data = new Dictionary<string, string> { ["app"] = "theirs" } });
        world.Apply(Hourly().WithSpec(s => s with { Jwks = new JwksSpec { TargetNamespaces = ["api"] } }));

        await world.ConvergeAsync();

        Assert.Equal("theirs", world.Api.Stored<V1ConfigMap>("api", "auth-jwks")!.Data["app"]);
        var degraded = world.Condition(ConditionSet.Degraded);
        Assert.Equal(("True", Reasons.NameConflict), (degraded?.Status, degraded?.Reason));
        Assert.Equal("True", world.Condition(ConditionSet.Ready)?.Status); // the set's own copy serves; the key signs
    }

    [Fact]
    public async Task A_renamed_signing_secret_is_written_under_the_new_name_and_the_old_one_deleted()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly());
        var kid = await world.ConvergeAsync();

        world.Api.Change<V1Alpha1SigningKeySet>(Ns, Name, s => s.Spec = s.Spec with { SigningSecretName = "auth-signer" });
        var writes = await world.WritesOfOneReconcileAsync();

        TransitionTests.AssertInOrder(writes, "create Secret team/auth-signer", "delete Secret team/auth-signing");
        Assert.Null(world.Api.Stored<V1Secret>(Ns, "auth-signing"));
        Assert.Equal(kid, System.Text.Encoding.UTF8.GetString(world.Api.Stored<V1Secret>(Ns, "auth-signer")!.Data["kid"]));
    }

    [Fact]
    public async Task A_renamed_jwks_configmap_is_published_under_the_new_name_before_the_old_one_goes()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly());
        await world.ConvergeAsync();

        world.Api.Change<V1Alpha1SigningKeySet>(Ns, Name, s => s.Spec = s.Spec with { Jwks = new JwksSpec { ConfigMapName = "auth-keys" } });
        var writes = await world.WritesOfOneReconcileAsync();

        TransitionTests.AssertInOrder(writes, "create ConfigMap team/auth-keys", "delete ConfigMap team/auth-jwks");
        Assert.Null(world.JwksKids());
    }

    [Fact]
    public async Task A_set_deleted_under_retain_keeps_its_keys_under_another_name_detached_from_the_set()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly());
        var kid = await world.ConvergeAsync();
        var uid = world.Set().Metadata.Uid;

        world.Api.Change<V1Alpha1SigningKeySet>(Ns, Name, s => s.Metadata.DeletionTimestamp = world.Time.GetUtcNow().UtcDateTime);
        var writes = await world.WritesOfOneReconcileAsync();

        var retainedName = KubernetesKeyStore.RetainedSecretName(Name, uid);
        TransitionTests.AssertInOrder(writes, $"create Secret team/{retainedName}", "delete Secret team/auth-keyrotator-keys", "replace SigningKeySet team/auth");
        var retained = world.Api.Stored<V1Secret>(Ns, retainedName)!;
        Assert.Contains(kid, KeyStoreEntry.ReadAll(retained).Select(e => e.Kid));
        Assert.False(retained.Metadata.Labels.ContainsKey(Labels.ManagedBy));
        Assert.Null(world.Api.Stored<V1Alpha1SigningKeySet>(Ns, Name));
    }

    [Fact]
    public async Task Retired_keys_beyond_the_history_are_deleted_from_the_key_store()
    {
        await using var world = new ReconcileWorld("--KeyRotator:RetiredKeyHistory=1");
        world.Apply(Hourly());
        await world.ConvergeAsync();

        // Five rotations, each run to the end of its overlap.
        for (var i = 0; i < 5; i++)
        {
            var rotation = world.Set().Status!.NextRotationTime!.Value;
            world.Time.SetUtcNow(rotation - TimeSpan.FromMinutes(10));
            await world.ReconcileAsync();
            world.Time.SetUtcNow(rotation);
            await world.ReconcileAsync();
            world.Time.SetUtcNow(rotation + TimeSpan.FromMinutes(20));
            await world.ReconcileAsync();
        }

        var stored = world.StoredKids();
        Assert.Contains(world.Set().Status!.ActiveKeyId!, stored);
        Assert.True(stored.Count <= 3, $"the key store holds {stored.Count} keys after 6 keys and a history of 1: {string.Join(", ", stored)}");
        Assert.Equal([world.Set().Status!.ActiveKeyId!], world.JwksKids());
    }

    [Fact]
    public async Task Events_the_api_server_refuses_never_hold_the_reconcile_up()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly());
        world.Api.Refuse(r => r.Kind == "Event" ? HttpStatusCode.Forbidden : null);

        var kid = await world.ConvergeAsync();

        Assert.Equal((kid, null), world.Signing());
        Assert.Equal("True", world.Condition(ConditionSet.Ready)?.Status);
    }

    [Fact]
    public async Task An_rsa_key_still_being_generated_makes_no_writes_but_the_finalizer_and_is_stored_once_ready()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly().WithAlgorithm("RS256", 2048));
        var generated = new TaskCompletionSource();
        world.Service<KeyGenerator>().Generated += (_, _) => generated.TrySetResult();

        // An RSA key takes far longer to generate than one reconcile: it is made off the workers.
        var writes = await world.WritesOfOneReconcileAsync();
        Assert.Equal(["replace SigningKeySet team/auth"], writes);

        await generated.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        await world.ReconcileAsync();
        Assert.Single(world.StoredKids());
        Assert.Equal(world.StoredKids(), world.JwksKids());
    }
}
