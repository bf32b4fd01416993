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

/// <summary>
/// Every hold (Ready=False: nothing moves but safety) and every failure path (Degraded=True: retried)
/// of a reconcile, against the in-memory world: what is written, what is not, and what the set says.
/// </summary>
public sealed class HoldAndFailureTests
{
    private static readonly string[] NoKeyMaterialWrites = ["create Secret team/auth-keyrotator-keys", "create ConfigMap team/auth-jwks", "create Secret team/auth-signing"];

    [Fact]
    public async Task An_invalid_spec_holds_the_set_without_making_or_publishing_a_key()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly().WithRotation(r => r with { Interval = "1m" }));

        var writes = await world.WritesOfOneReconcileAsync();

        Assert.Empty(writes.Intersect(NoKeyMaterialWrites));
        AssertHeld(world, Reasons.InvalidSpec, "interval");
        world.AssertEvent($"Warning {Reasons.InvalidSpec}");
    }

    [Fact]
    public async Task An_azure_key_vault_no_cluster_key_vault_grants_is_never_contacted()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly().WithSpec(s => s with { Vault = new VaultSpec { Provider = "AzureKeyVault", AzureKeyVault = new AzureKeyVaultSpec { VaultUri = "https://team-vault.vault.azure.net/", KeyName = "signing" } } }));

        await world.ReconcileAsync();

        AssertHeld(world, Reasons.VaultNotGranted, "ClusterKeyVault");
        Assert.Null(world.JwksKids());
    }

    [Fact]
    public async Task A_cluster_key_vault_for_other_namespaces_does_not_grant_the_vault()
    {
        await using var world = new ReconcileWorld();
        world.Api.Seed(new V1Alpha1ClusterKeyVault
        {
            Metadata = new V1ObjectMeta { Name = "platform-vault" },
            Spec = new ClusterKeyVaultSpec { AzureKeyVault = new AzureKeyVaultGrant { VaultUri = "https://team-vault.vault.azure.net/" }, Namespaces = ["payments"] },
        });
        world.Apply(Hourly().WithSpec(s => s with { Vault = new VaultSpec { Provider = "AzureKeyVault", AzureKeyVault = new AzureKeyVaultSpec { VaultUri = "https://team-vault.vault.azure.net/", KeyName = "signing" } } }));

        await world.ReconcileAsync();

        AssertHeld(world, Reasons.VaultNotGranted, "platform-vault grants it to other namespaces only");
    }

    [Fact]
    public async Task A_pkcs11_module_off_the_allow_list_is_never_loaded()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly().WithSpec(s => s with
        {
            Vault = new VaultSpec { Provider = "Pkcs11", Pkcs11 = new Pkcs11Spec { Library = "/tmp/evil.so", TokenLabel = "t", PinSecretRef = new SecretKeySelector { Name = "pin", Key = "pin" } } },
        }));

        await world.ReconcileAsync();

        AssertHeld(world, Reasons.LibraryNotAllowed, "/tmp/evil.so");
    }

    [Theory]
    [InlineData("ConfigMap", "auth-jwks")]
    [InlineData("Secret", "auth-signing")]
    [InlineData("Secret", "auth-keyrotator-keys")]
    public async Task A_name_someone_else_holds_is_a_conflict_left_unchanged_and_no_key_signs(string kind, string name)
    {
        await using var world = new ReconcileWorld();
        if (kind == "ConfigMap")
            world.Api.Seed(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = Ns }, Data = new Dictionary<string, string> { ["app"] = "theirs" } });
        else
            world.Api.Seed(new V1Secret { Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = Ns }, Data = new Dictionary<string, byte[]> { ["app"] = "theirs"u8.ToArray() } });
        world.Apply(Hourly());

        var writes = await world.WritesOfOneReconcileAsync();
        if (name == "auth-signing")
        {
            // The first key's signing Secret is written when the key activates, so the name is found taken then.
            Assert.Null(world.Set().Status!.ActiveKeyId);
            world.Time.Advance(TimeSpan.FromMinutes(10));
            writes = await world.WritesOfOneReconcileAsync();
        }

        AssertHeld(world, Reasons.NameConflict, name);
        Assert.Null(world.Set().Status!.ActiveKeyId);
        Assert.DoesNotContain(writes, w => w.EndsWith($"{Ns}/{name}", StringComparison.Ordinal) && !w.StartsWith("create", StringComparison.Ordinal));
        if (kind == "ConfigMap")
            Assert.Equal("theirs", world.Api.Stored<V1ConfigMap>(Ns, name)!.Data["app"]);
        else
            Assert.Equal("theirs"u8.ToArray(), world.Api.Stored<V1Secret>(Ns, name)!.Data["app"]);
        Assert.Null(world.Signing().Kid is { } kid && world.JwksKids()?.Contains(kid) != true ? kid : null);
    }

    [Fact]
    public async Task A_vault_that_refuses_degrades_the_set_publishes_nothing_and_converges_once_it_answers()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly());
        world.Api.Refuse(r => r.Name == "auth-keyrotator-keys" ? HttpStatusCode.ServiceUnavailable : null);

        var result = await world.ReconcileAsync();

        Assert.NotNull(result.Error);
        AssertDegraded(world, "VaultUnavailable", "503");
        Assert.Empty(world.JwksKids() ?? []); // verifiers may mount an empty JWKS: it trusts nothing
        Assert.Equal((null, null), world.Signing());

        world.Api.StopRefusing();
        await world.ReconcileAsync();
        Assert.Equal("False", world.Condition(ConditionSet.Degraded)!.Status);
        Assert.Equal(world.StoredKids(), world.JwksKids());
    }

    [Fact]
    public async Task A_refused_jwks_write_degrades_the_set_and_the_key_does_not_sign()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly());
        world.Api.Refuse(r => r.Kind == "ConfigMap" && r.Verb == "create" ? HttpStatusCode.Forbidden : null);

        var writes = await world.WritesOfOneReconcileAsync();

        AssertDegraded(world, Reasons.PublishFailed, "403");
        Assert.DoesNotContain("create Secret team/auth-signing", writes);
        Assert.Null(world.Signing().Kid);
    }

    [Fact]
    public async Task A_refused_signing_secret_degrades_the_set_after_the_jwks_is_published()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly());
        world.Api.Refuse(r => r.Name == "auth-signing" && r.Verb == "create" ? HttpStatusCode.UnprocessableEntity : null);

        await world.ReconcileAsync();
        world.Time.Advance(TimeSpan.FromMinutes(10)); // the first key's signing Secret is written when it activates
        await world.ReconcileAsync();

        AssertDegraded(world, Reasons.PublishFailed, "422");
        Assert.Equal(world.StoredKids(), world.JwksKids());
        Assert.Null(world.Set().Status!.ActiveKeyId); // status does not say a key signs that no signer has
    }

    [Fact]
    public async Task A_key_gone_from_the_vault_degrades_the_set_and_the_jwks_stays_as_it_is()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly());
        await world.ConvergeAsync();
        var published = world.JwksKids();
        world.Api.Remove<V1Secret>(Ns, "auth-keyrotator-keys");

        await world.ReconcileAsync();

        AssertDegraded(world, Reasons.KeyMissing, published![0]);
        Assert.Equal(published, world.JwksKids());
    }

    [Fact]
    public async Task A_target_namespace_that_has_not_opted_in_gets_no_copy_and_the_set_says_why()
    {
        await using var world = new ReconcileWorld();
        world.Api.Seed(new V1Namespace { Metadata = new V1ObjectMeta { Name = "web" } });
        world.Api.Seed(new V1Namespace { Metadata = new V1ObjectMeta { Name = "api", Annotations = new Dictionary<string, string> { [Labels.AcceptJwksFromAnnotation] = Ns } } });
        world.Apply(Hourly().WithSpec(s => s with { Jwks = new JwksSpec { TargetNamespaces = ["web", "api", "gone"] } }));

        await world.ReconcileAsync();

        Assert.NotNull(world.JwksKids("api"));
        Assert.Null(world.JwksKids("web"));
        Assert.Equal(["web NotAccepted", "gone NamespaceNotFound"], world.Set().Status!.SkippedTargets!.Select(s => $"{s.Namespace} {s.Reason}"));
        AssertDegraded(world, Reasons.CopiesSkipped, "web");
    }

    [Fact]
    public async Task Revocation_does_not_wait_for_a_vault_that_refuses_everything()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly());
        var revoked = await world.ConvergeAsync();
        world.Api.Refuse(r => r.Name == "auth-keyrotator-keys" ? HttpStatusCode.ServiceUnavailable : null);

        world.Api.Change<V1Alpha1SigningKeySet>(Ns, Name, s => s.Spec = s.Spec with { RevokedKeyIds = [revoked] });
        await world.ReconcileAsync();

        Assert.DoesNotContain(revoked, world.JwksKids()!);
        Assert.Null(world.Signing().Kid);
        AssertDegraded(world, "VaultUnavailable", "503");
    }

    [Fact]
    public async Task Revocation_does_not_wait_for_a_valid_spec()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly());
        var revoked = await world.ConvergeAsync();

        world.Api.Change<V1Alpha1SigningKeySet>(Ns, Name, s => s.Spec = s.Spec with { RevokedKeyIds = [revoked], Rotation = s.Spec.Rotation with { Interval = "1m" } });
        await world.ReconcileAsync();

        Assert.DoesNotContain(revoked, world.JwksKids()!);
        Assert.Null(world.Signing().Kid);
        AssertHeld(world, Reasons.InvalidSpec, "interval");
    }

    [Fact]
    public async Task A_status_write_that_loses_a_race_is_retried_at_once_without_repeating_events()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly());
        var first = await world.ConvergeAsync();
        world.Time.SetUtcNow(world.Set().Status!.NextRotationTime!.Value - TimeSpan.FromMinutes(10));
        var before = world.EventReasons.Count;
        var refused = 0;
        world.Api.Refuse(r => r.Verb == "replace-status" && Interlocked.Increment(ref refused) == 1 ? HttpStatusCode.Conflict : null);

        // The status write lost: nothing is said yet (Events follow status), and the set is looked at again at once.
        var result = await world.ReconcileAsync();
        Assert.Equal(world.Time.GetUtcNow(), result.WakeAt);
        Assert.Equal(before, world.EventReasons.Count);

        // The next reconcile adopts the key already stored (no second key) and says it once.
        await world.ReconcileAsync();
        var next = Assert.Single(world.StoredKids(), k => k != first);
        Assert.Equal(next, world.Set().Status!.NextKeyId);
        Assert.Equal(["Normal KeyPublished"], world.EventReasons.Skip(before));
    }

    [Fact]
    public async Task An_unexpected_refusal_is_reported_on_the_set_with_the_request_and_the_answer()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly());
        world.Api.Refuse(r => r.Verb == "replace" && r.Kind == "SigningKeySet" ? HttpStatusCode.InternalServerError : null);

        await Assert.ThrowsAsync<HttpOperationException>(() => world.ReconcileAsync());

        AssertDegraded(world, Reasons.ReconcileFailed, "PUT /apis/keyrotator.io/v1alpha1/namespaces/team/signingkeysets/auth answered 500");
        world.AssertEvent($"Warning {Reasons.ReconcileFailed}");
    }

    private static void AssertHeld(ReconcileWorld world, string reason, string says) => AssertCondition(world, ConditionSet.Ready, "False", reason, says);

    private static void AssertDegraded(ReconcileWorld world, string reason, string says) => AssertCondition(world, ConditionSet.Degraded, "True", reason, says);

    private static void AssertCondition(ReconcileWorld world, string type, string status, string reason, string says)
    {
        var condition = world.Condition(type);
        var all = string.Join("; ", world.Set().Status?.Conditions?.Select(c => $"{c.Type}={c.Status} {c.Reason}: {c.Message}") ?? []);
        Assert.True(condition is not null && condition.Status == status && condition.Reason == reason && condition.Message.Contains(says, StringComparison.Ordinal),
            $"expected {type}={status} {reason} saying \"{says}\"; the set says: {all}");
    }
}
