using System.Net;
using k8s.Autorest;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Testing;
using Xunit;
using static KeyRotator.Reconciler.Tests.ReconcileWorld;
using static KeyRotator.Reconciler.Tests.TransitionTests;

namespace KeyRotator.Reconciler.Tests;

/// <summary>More holds and failure paths: parameters changed under existing keys, a withdrawal that cannot reach one copy, a vault that refuses the finalizer, and activation timeouts.</summary>
public sealed class MoreHoldAndFailureTests
{
    [Fact]
    public async Task Changing_the_algorithm_of_a_set_with_keys_holds_it_and_keeps_publishing_what_it_has()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly());
        var kid = await world.ConvergeAsync();

        world.Api.Change<V1Alpha1SigningKeySet>(Ns, Name, s => s.Spec = s.Spec with { Algorithm = "ES384" });
        var writes = await world.WritesOfOneReconcileAsync();

        var ready = world.Condition(ConditionSet.Ready);
        Assert.Equal(("False", Reasons.InvalidSpec), (ready?.Status, ready?.Reason));
        Assert.Contains("spec.algorithm was ES256", ready!.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(writes, w => w.Contains("auth-keyrotator-keys", StringComparison.Ordinal));
        Assert.Equal([kid], world.JwksKids());
        Assert.Equal((kid, null), world.Signing());
    }

    [Fact]
    public async Task A_revocation_that_cannot_write_one_copy_still_withdraws_the_key_everywhere_else()
    {
        await using var world = new ReconcileWorld();
        world.Api.Seed(new V1Namespace { Metadata = new V1ObjectMeta { Name = "api", Annotations = new Dictionary<string, string> { [Labels.AcceptJwksFromAnnotation] = Ns } } });
        world.Apply(Hourly().WithSpec(s => s with { Jwks = new JwksSpec { TargetNamespaces = ["api"] } }));
        var revoked = await world.ConvergeAsync();
        world.Api.Refuse(r => r.Namespace == "api" && r.Kind == "ConfigMap" && r.Verb != "get" && r.Verb != "list" ? HttpStatusCode.Forbidden : null);

        world.Api.Change<V1Alpha1SigningKeySet>(Ns, Name, s => s.Spec = s.Spec with { RevokedKeyIds = [revoked] });
        var result = await world.ReconcileAsync();

        Assert.True(result.Retry);
        Assert.DoesNotContain(revoked, world.JwksKids()!);
        Assert.Null(world.Signing().Kid);
        Assert.Contains(revoked, world.JwksKids("api")!); // the one copy the API server refused
        var degraded = world.Condition(ConditionSet.Degraded);
        Assert.Equal(("True", Reasons.PublishFailed), (degraded?.Status, degraded?.Reason));
        Assert.Contains("403", degraded!.Message, StringComparison.Ordinal);
        Assert.Contains($"could not withdraw key(s) {revoked}", degraded.Message, StringComparison.Ordinal);
        // Status is the truth: the key is not called Revoked while a copy still publishes it.
        Assert.DoesNotContain(world.Set().Status!.Keys!, k => k.State == KeyState.Revoked);
        world.AssertEvent($"Warning {Reasons.PublishFailed}");

        world.Api.StopRefusing();
        await world.ReconcileAsync();
        Assert.DoesNotContain(revoked, world.JwksKids("api")!);
        Assert.Equal(KeyState.Revoked, world.Set().Status!.Keys!.Single(k => k.Kid == revoked).State);
        Assert.Equal("False", world.Condition(ConditionSet.Degraded)?.Status);
    }

    [Fact]
    public async Task A_vault_that_refuses_the_deletion_keeps_the_finalizer_and_the_set_says_why()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly().WithSpec(s => s with { DeletionPolicy = "Delete" }));
        await world.ConvergeAsync();
        world.Api.Refuse(r => r.Name == "auth-keyrotator-keys" && r.Verb == "delete" ? HttpStatusCode.ServiceUnavailable : null);

        world.Api.Change<V1Alpha1SigningKeySet>(Ns, Name, s => s.Metadata.DeletionTimestamp = world.Time.GetUtcNow().UtcDateTime);
        var result = await world.ReconcileAsync();

        Assert.True(result.Retry);
        Assert.Contains(Labels.Finalizer, world.Set().Metadata.Finalizers!);
        var degraded = world.Condition(ConditionSet.Degraded);
        Assert.Equal("True", degraded?.Status);
        Assert.Contains("is being deleted", degraded!.Message, StringComparison.Ordinal);

        world.Api.StopRefusing();
        await world.ReconcileAsync();
        Assert.Null(world.Api.Stored<V1Alpha1SigningKeySet>(Ns, Name));
        Assert.Empty(world.StoredKids());
    }

    [Fact]
    public async Task Confirmed_activation_that_times_out_activates_and_says_which_verifiers_are_stale()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly().WithRotation(r => r with { Interval = "1h", PrePublish = "10m", Overlap = "20m", Activation = "Confirmed", MaxActivationDelay = "15m" }));
        var first = await world.ConvergeAsync();
        var rotation = world.Set().Status!.NextRotationTime!.Value;
        var tracker = world.Service<KeyRotator.Operator.Observability.PropagationTracker>();
        var staleHash = world.Api.Stored<V1ConfigMap>(Ns, "auth-jwks")!.Metadata.Annotations[Labels.ContentHashAnnotation];

        world.Time.SetUtcNow(rotation - TimeSpan.FromMinutes(10));
        await world.ReconcileAsync();
        var next = world.Set().Status!.NextKeyId!;
        world.Time.SetUtcNow(rotation + TimeSpan.FromMinutes(15));
        tracker.ObserveVerifier(Ns, Name, "web-7", staleHash);
        await world.ReconcileAsync();

        Assert.Equal((next, null), world.Signing());
        var incomplete = world.Condition(ConditionSet.PropagationIncomplete);
        Assert.Equal(("True", "VerifiersStale"), (incomplete?.Status, incomplete?.Reason));
        Assert.Contains("web-7", incomplete!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Force_activation_activates_a_due_key_without_waiting_for_verifiers()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly().WithRotation(r => r with { Interval = "1h", PrePublish = "10m", Overlap = "20m", Activation = "Confirmed", MaxActivationDelay = "30m" }));
        var first = await world.ConvergeAsync();
        var rotation = world.Set().Status!.NextRotationTime!.Value;
        var tracker = world.Service<KeyRotator.Operator.Observability.PropagationTracker>();
        var staleHash = world.Api.Stored<V1ConfigMap>(Ns, "auth-jwks")!.Metadata.Annotations[Labels.ContentHashAnnotation];
        world.Time.SetUtcNow(rotation - TimeSpan.FromMinutes(10));
        await world.ReconcileAsync();
        var next = world.Set().Status!.NextKeyId!;

        world.Time.SetUtcNow(rotation);
        tracker.ObserveVerifier(Ns, Name, "web-7", staleHash);
        await world.ReconcileAsync();
        Assert.Equal((first, next), world.Signing());

        world.Api.Change<V1Alpha1SigningKeySet>(Ns, Name, s => s.Metadata.Annotations = new Dictionary<string, string> { [Labels.ForceActivationAnnotation] = next });
        await world.ReconcileAsync();
        Assert.Equal((next, null), world.Signing());
    }

    [Fact]
    public async Task A_publish_target_that_is_not_granted_holds_the_set_before_any_key_is_made()
    {
        await using var world = new ReconcileWorld();
        world.Api.Seed(new V1Alpha1ClusterPublishTarget
        {
            Metadata = new V1ObjectMeta { Name = "issuers" },
            Spec = new ClusterPublishTargetSpec { AzureBlob = new AzureBlobTarget { Endpoint = "https://acct.blob.core.windows.net", Container = "oidc" }, Namespaces = ["payments"] },
        });
        world.Apply(Hourly().WithSpec(s => s with { Publish = [new PublishSpec { Target = "issuers", Path = "team/auth" }, new PublishSpec { Target = "nowhere", Path = "x" }] }));

        var writes = await world.WritesOfOneReconcileAsync();

        var ready = world.Condition(ConditionSet.Ready);
        Assert.Equal(("False", Reasons.PublishTargetNotGranted), (ready?.Status, ready?.Reason));
        Assert.Contains("add team to its spec.namespaces", ready!.Message, StringComparison.Ordinal);
        Assert.Empty(world.StoredKids());
        Assert.DoesNotContain(writes, w => w.StartsWith("create ConfigMap", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_prepublish_shorter_than_the_targets_cdn_allowance_plus_max_age_is_refused_with_the_shortfall()
    {
        await using var world = new ReconcileWorld();
        world.Api.Seed(new V1Alpha1ClusterPublishTarget
        {
            Metadata = new V1ObjectMeta { Name = "behind-cdn" },
            Spec = new ClusterPublishTargetSpec
            {
                AzureBlob = new AzureBlobTarget { Endpoint = "https://acct.blob.core.windows.net", Container = "oidc" },
                Namespaces = [Ns],
                CacheAllowance = "5m",
            },
        });
        // prePublish 4m: the documents' max-age is 1m, so relying parties behind the CDN may see a key 6m after it is written.
        world.Apply(Hourly().WithRotation(r => r with { PrePublish = "4m" }).WithSpec(s => s with { Publish = [new PublishSpec { Target = "behind-cdn", Path = "team/auth" }] }));

        var writes = await world.WritesOfOneReconcileAsync();

        var ready = world.Condition(ConditionSet.Ready);
        Assert.Equal(("False", Reasons.InvalidSpec), (ready?.Status, ready?.Reason));
        Assert.Contains("spec.rotation.prePublish 4m is 2m short for ClusterPublishTarget behind-cdn", ready!.Message, StringComparison.Ordinal);
        Assert.Contains("raise prePublish to at least 6m40s", ready.Message, StringComparison.Ordinal);
        Assert.Empty(world.StoredKids());
        Assert.DoesNotContain(writes, w => w.StartsWith("create ConfigMap", StringComparison.Ordinal));

        // At the minimum it names, the set goes ahead as far as the target, which has no connection string and the
        // operator no Azure identity here: Degraded, saying what to do, and the key does not sign.
        world.Api.Change<V1Alpha1SigningKeySet>(Ns, Name, s => s.Spec = s.Spec with { Rotation = s.Spec.Rotation! with { PrePublish = "6m40s" } });
        await world.ReconcileAsync();
        Assert.Equal(("False", Reasons.PublishFailed), (world.Condition(ConditionSet.Ready)?.Status, world.Condition(ConditionSet.Ready)?.Reason));
        var degraded = world.Condition(ConditionSet.Degraded);
        Assert.Equal(("True", Reasons.PublishFailed), (degraded?.Status, degraded?.Reason));
        Assert.Contains("the operator's Azure identity could not get a token for the storage account", degraded!.Message, StringComparison.Ordinal);
        Assert.Null(world.Set().Status!.ActiveKeyId);
    }

    [Fact]
    public async Task A_kubernetes_issuer_layout_whose_discovery_document_points_elsewhere_is_an_invalid_spec()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly().WithSpec(s => s with
        {
            Jwks = new JwksSpec { Issuer = "https://issuer.example.test/team/auth" },
            Publish = [new PublishSpec { Target = "issuers", Path = "team/auth", Layout = "KubernetesIssuer" }],
        }));

        await world.ReconcileAsync();

        var ready = world.Condition(ConditionSet.Ready);
        Assert.Equal(("False", Reasons.InvalidSpec), (ready?.Status, ready?.Reason));
        Assert.Contains("set spec.jwks.jwksUri to the public URL of that blob, e.g. https://issuer.example.test/team/auth/openid/v1/jwks", ready!.Message, StringComparison.Ordinal);
    }
}
