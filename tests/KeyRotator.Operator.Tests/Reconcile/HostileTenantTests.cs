using System.Text;
using Azure.Core;
using k8s;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Testing;
using KeyRotator.Testing.Azure;
using Microsoft.Extensions.DependencyInjection;

namespace KeyRotator.Operator.Tests.Reconcile;

/// <summary>
/// A tenant who may create SigningKeySets in its own namespace, and nothing more, walks every field of the
/// spec that names something outside the set: vault coordinates (another team's Azure Key Vault, a token),
/// a module to load, copies into other namespaces, and Secret and ConfigMap names that belong to someone
/// else. Without a grant it gets nothing created, changed, loaded or deleted, and a condition that says why.
/// </summary>
public sealed class HostileTenantTests(KubernetesEnvironment env) : IAsyncLifetime
{
    private readonly FakeTokenCredential _credential = new();
    private readonly string _host = $"kr-{Guid.NewGuid():N}"[..16] + ".vault.azure.net";
    private AzureKeyVaultFake _fake = null!;

    public async ValueTask InitializeAsync() => _fake = await AzureKeyVaultFake.StartAsync();

    public async ValueTask DisposeAsync() => await _fake.DisposeAsync();

    [Fact]
    public async Task A_tenant_without_grants_gets_nothing_created_changed_loaded_or_deleted_outside_its_sets_and_a_condition_saying_why()
    {
        var ct = TestContext.Current.CancellationToken;
        var tenant = await env.CreateNamespaceAsync("tenant", ct);
        var victim = await env.CreateNamespaceAsync("victim", ct);
        var bystander = await env.CreateNamespaceAsync("bystander", ct);
        // The victim team's vault is granted to the victim's namespace only; a module copied where a tenant could name it.
        await env.GrantVaultAsync(victim, azure: new AzureKeyVaultGrant { VaultUri = $"https://{_host}" }, cancellationToken: ct);
        var rogueLibrary = Path.Combine(Directory.CreateTempSubdirectory("keyrotator-rogue-").FullName, "librogue.so");
        if (File.Exists(SoftHsm.Library))
            File.Copy(SoftHsm.Library, rogueLibrary);
        await env.Admin.CoreV1.CreateNamespacedSecretAsync(new V1Secret { Metadata = new V1ObjectMeta { Name = "hsm-pin" }, Data = new Dictionary<string, byte[]> { ["pin"] = Encoding.UTF8.GetBytes(SoftHsm.UserPin) } }, tenant, cancellationToken: ct);
        var foreignSecret = await env.Admin.CoreV1.CreateNamespacedSecretAsync(new V1Secret { Metadata = new V1ObjectMeta { Name = "db-credentials" }, StringData = new Dictionary<string, string> { ["password"] = "hunter2" } }, tenant, cancellationToken: ct);
        var foreignConfigMap = await env.Admin.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "app-settings" }, Data = new Dictionary<string, string> { ["a"] = "b" } }, tenant, cancellationToken: ct);
        var before = await SnapshotAsync([victim, bystander], ct);

        await using var op = await OperatorInstance.StartAsync(env, [tenant, victim, bystander], configure: services =>
        {
            services.AddSingleton<TokenCredential>(_credential);
            services.AddSingleton(_fake.ClientOptions(1, 2));
        });
        var scenario = new OperatorScenario(env, tenant);
        SigningKeySetBuilder Set(string name) => SigningKeySetBuilder.Named(name, tenant).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" });
        Pkcs11Spec Token(string library, string token) => new() { Library = library, TokenLabel = token, PinSecretRef = new SecretKeySelector { Name = "hsm-pin", Key = "pin" } };

        // Another team's Azure Key Vault, through the operator's own identity; and the same with deletionPolicy Delete.
        await scenario.Sets.CreateAsync(Set("other-vault").WithSpec(s => s with { Vault = new VaultSpec { Provider = "AzureKeyVault", AzureKeyVault = new AzureKeyVaultSpec { VaultUri = $"https://{_host}", KeyName = "victim-jwt" } } }).Build(), ct);
        await scenario.Sets.CreateAsync(Set("other-vault-delete").WithSpec(s => s with { DeletionPolicy = "Delete", Vault = new VaultSpec { Provider = "AzureKeyVault", AzureKeyVault = new AzureKeyVaultSpec { VaultUri = $"https://{_host}", KeyName = "victim-jwt" } } }).Build(), ct);
        // A module of its choosing, and the allowed module with a token nobody granted.
        await scenario.Sets.CreateAsync(Set("rogue-module").WithSpec(s => s with { Vault = new VaultSpec { Provider = "Pkcs11", Pkcs11 = Token(rogueLibrary, SoftHsm.TokenLabel) } }).Build(), ct);
        await scenario.Sets.CreateAsync(Set("other-token").WithSpec(s => s with { Vault = new VaultSpec { Provider = "Pkcs11", Pkcs11 = Token(SoftHsm.Library, SoftHsm.TokenLabel) } }).Build(), ct);
        // Copies into namespaces that did not opt in; Secret and ConfigMap names that belong to others.
        await scenario.Sets.CreateAsync(Set("copies").WithSpec(s => s with { Jwks = new JwksSpec { TargetNamespaces = [victim, bystander] } }).Build(), ct);
        await scenario.Sets.CreateAsync(Set("signing-name").WithSpec(s => s with { SigningSecretName = "db-credentials" }).Build(), ct);
        await scenario.Sets.CreateAsync(Set("jwks-name").WithSpec(s => s with { Jwks = new JwksSpec { ConfigMapName = "app-settings" } }).Build(), ct);

        async Task<string> RefusedAsync(string name, string reason)
        {
            var set = await scenario.WaitForReadyReasonAsync(name, reason, ct);
            Assert.Null(set.Status!.ActiveKeyId);
            // No key ever signs. A signing Secret name held by an object without the set's labels is found
            // when the first key is due to sign (the Secret is created then), so that set's key stays Pending.
            Assert.DoesNotContain(set.Status.Keys ?? [], k => k.State != KeyState.Pending);
            if (name != "signing-name")
                Assert.Empty(set.Status.Keys ?? []);
            await scenario.WaitForEventAsync(name, reason, ct);
            return ConditionSet.Find(set.Status.Conditions, ConditionSet.Ready)!.Message;
        }

        var otherVault = await RefusedAsync("other-vault", "VaultNotGranted");
        Assert.Contains($"namespace {tenant} may not use Azure Key Vault https://{_host}", otherVault, StringComparison.Ordinal);
        Assert.Contains("grants it to other namespaces only", otherVault, StringComparison.Ordinal);
        Assert.Contains("ask the platform team for a ClusterKeyVault", otherVault, StringComparison.Ordinal);
        await RefusedAsync("other-vault-delete", "VaultNotGranted");
        var rogue = await RefusedAsync("rogue-module", "LibraryNotAllowed");
        Assert.Contains($"spec.vault.pkcs11.library {rogueLibrary} is not on the operator's allow-list", rogue, StringComparison.Ordinal);
        Assert.Contains(SoftHsm.Library, rogue, StringComparison.Ordinal);
        var token = await RefusedAsync("other-token", "VaultNotGranted");
        Assert.Contains($"may not use PKCS#11 token \"{SoftHsm.TokenLabel}\"", token, StringComparison.Ordinal);
        // Other tests' namespaces may hold a grant of the same token: either way, not this one's.
        Assert.Matches("no ClusterKeyVault grants it|grants it to other namespaces only", token);
        Assert.Contains($"{Labels.AcceptJwksFromAnnotation}={tenant}", string.Join(" ", (await Eventually.HoldsAsync(() => scenario.GetAsync("copies"), s => s.Status?.SkippedTargets?.Count == 2, TimeSpan.FromSeconds(20), "two skipped copies", ct)).Status!.SkippedTargets!.Select(t => t.Message)), StringComparison.Ordinal);
        Assert.Contains("db-credentials", await RefusedAsync("signing-name", "NameConflict"), StringComparison.Ordinal);
        Assert.Contains("app-settings", await RefusedAsync("jwks-name", "NameConflict"), StringComparison.Ordinal);

        // Deleting the sets touches nothing outside them either.
        await scenario.Sets.DeleteAsync(tenant, "other-vault-delete", ct);
        await scenario.WaitUntilGoneAsync("other-vault-delete", cancellationToken: ct);
        Assert.Contains((await scenario.EventsAsync("other-vault-delete")).Select(e => e.Reason), r => r == "KeysNotRemoved");

        // Nothing reached the victim's vault: no token was asked for with the operator's identity, no request was sent.
        Assert.Equal(0, _credential.Issued);
        Assert.DoesNotContain(_fake.Requests, r => r.Host.StartsWith(_host, StringComparison.OrdinalIgnoreCase));
        // The rogue module was never loaded into the operator (this process).
        Assert.DoesNotContain(rogueLibrary, await File.ReadAllTextAsync("/proc/self/maps", ct), StringComparison.Ordinal);
        // The other namespaces are as they were, and so are the tenant's own objects that the sets named.
        Assert.Equal(before, await SnapshotAsync([victim, bystander], ct));
        Assert.Equal(foreignSecret.Metadata.ResourceVersion, (await env.Admin.CoreV1.ReadNamespacedSecretAsync("db-credentials", tenant, cancellationToken: ct)).Metadata.ResourceVersion);
        Assert.Equal(foreignConfigMap.Metadata.ResourceVersion, (await env.Admin.CoreV1.ReadNamespacedConfigMapAsync("app-settings", tenant, cancellationToken: ct)).Metadata.ResourceVersion);

        // Once the platform team grants the token to the tenant, the same set works without an edit.
        await env.GrantVaultAsync(tenant, pkcs11: new Pkcs11Grant { Library = SoftHsm.Library, TokenLabel = SoftHsm.TokenLabel }, cancellationToken: ct);
        SoftHsm.EnsureToken();
        await scenario.WaitForActiveKeyAsync("other-token", TimeSpan.FromSeconds(60));
    }

    private async Task<string> SnapshotAsync(IEnumerable<string> namespaces, CancellationToken ct)
    {
        var parts = new List<string>();
        foreach (var ns in namespaces)
        {
            parts.AddRange((await env.Admin.CoreV1.ListNamespacedConfigMapAsync(ns, cancellationToken: ct)).Items.Select(c => $"{ns}/cm/{c.Metadata.Name}@{c.Metadata.ResourceVersion}"));
            parts.AddRange((await env.Admin.CoreV1.ListNamespacedSecretAsync(ns, cancellationToken: ct)).Items.Select(s => $"{ns}/secret/{s.Metadata.Name}@{s.Metadata.ResourceVersion}"));
            parts.Add($"{ns}@{(await env.Admin.CoreV1.ReadNamespaceAsync(ns, cancellationToken: ct)).Metadata.ResourceVersion}");
        }

        return string.Join(",", parts.Order(StringComparer.Ordinal));
    }
}
