using k8s.Autorest;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Configuration;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Runtime;
using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.Vault;

/// <summary>
/// Which vaults a namespace may use. The operator's cloud identity and its process are shared by every
/// tenant, so a SigningKeySet may name an Azure Key Vault or a PKCS#11 token only when a ClusterKeyVault
/// (cluster-scoped: written by the platform team, never by a tenant) grants it to the set's namespace,
/// and a PKCS#11 module only when it is on the operator's allow-list (KeyRotator:Pkcs11:Libraries, set
/// in the chart). A refused vault is never contacted and a refused module never loaded.
/// </summary>
public sealed class VaultGrants(IObjectClient client, TimeProvider time, IOptions<OperatorOptions> options) : IDisposable
{
    /// <summary>A grant created or withdrawn takes effect within this (plus the next reconcile of the set).</summary>
    private static readonly TimeSpan ListAge = TimeSpan.FromSeconds(2);

    private readonly SemaphoreSlim _listing = new(1, 1);
    private (DateTimeOffset At, IReadOnlyList<V1Alpha1ClusterKeyVault> Vaults) _listed = (DateTimeOffset.MinValue, []);

    /// <summary>Why the set in <paramref name="ns"/> may not use <paramref name="vault"/> (reason and message), or null when it may.</summary>
    public async Task<(string Reason, string Message)?> RefusalAsync(string ns, VaultSpec? vault, CancellationToken cancellationToken)
    {
        switch (vault?.Provider ?? "Kubernetes")
        {
            case "Pkcs11" when vault!.Pkcs11 is { } pkcs11:
                if (!options.Value.Pkcs11.Libraries.Contains(pkcs11.Library, StringComparer.Ordinal))
                {
                    return (Reasons.LibraryNotAllowed, $"spec.vault.pkcs11.library {pkcs11.Library} is not on the operator's allow-list of PKCS#11 modules, so it is not loaded; "
                        + "ask the platform team to add it (chart value pkcs11.libraries, setting KeyRotator:Pkcs11:Libraries)"
                        + (options.Value.Pkcs11.Libraries.Count > 0 ? $", or use one of {string.Join(", ", options.Value.Pkcs11.Libraries)}" : ""));
                }

                return await GrantedAsync(ns, v => v.Pkcs11 is { } g && g.Library == pkcs11.Library && g.TokenLabel == pkcs11.TokenLabel, cancellationToken) is { } refusal
                    ? (Reasons.VaultNotGranted, $"namespace {ns} may not use PKCS#11 token \"{pkcs11.TokenLabel}\" of {pkcs11.Library}: {refusal}; ask the platform team for a ClusterKeyVault with spec.pkcs11 (library {pkcs11.Library}, tokenLabel {pkcs11.TokenLabel}) whose spec.namespaces include {ns}")
                    : null;
            case "AzureKeyVault" when vault!.AzureKeyVault is { } azure:
                if (await GrantedAsync(ns, v => v.AzureKeyVault is { } g && SameVault(g.VaultUri, azure.VaultUri), cancellationToken) is { } denied)
                    return (Reasons.VaultNotGranted, $"namespace {ns} may not use Azure Key Vault {azure.VaultUri}: {denied}; the operator's identity is shared by every namespace, so ask the platform team for a ClusterKeyVault with spec.azureKeyVault.vaultUri {azure.VaultUri} whose spec.namespaces include {ns}");
                return await GrantedAsync(ns, v => v.AzureKeyVault is { } g && SameVault(g.VaultUri, azure.VaultUri) && KeyNameGrant.Allows(g.KeyNamePrefix, v.Namespaces, ns, azure.KeyName), cancellationToken) is null
                    ? null
                    : (Reasons.VaultNotGranted, $"namespace {ns} may not use key {azure.KeyName} of Azure Key Vault {azure.VaultUri}: its ClusterKeyVault grants namespace {ns} the key names "
                        + $"starting with {string.Join(" or ", await PrefixesAsync(ns, azure.VaultUri, cancellationToken))}; choose such a spec.vault.azureKeyVault.keyName");
            default:
                return null;
        }
    }

    /// <summary>Null when a ClusterKeyVault matching <paramref name="matches"/> lists <paramref name="ns"/> (or "*"); else what is missing.</summary>
    private async Task<string?> GrantedAsync(string ns, Func<ClusterKeyVaultSpec, bool> matches, CancellationToken cancellationToken)
    {
        IReadOnlyList<V1Alpha1ClusterKeyVault> vaults;
        try
        {
            vaults = await ListAsync(cancellationToken);
        }
        catch (HttpOperationException e)
        {
            return $"the operator could not read ClusterKeyVaults ({ApiAnswer.Describe(e)})";
        }

        var candidates = vaults.Where(v => matches(v.Spec)).ToList();
        if (candidates.Any(v => NamespaceGrant.Includes(v.Spec.Namespaces, ns)))
            return null;
        return candidates.Count == 0
            ? "no ClusterKeyVault grants it"
            : $"ClusterKeyVault {string.Join(", ", candidates.Select(c => c.Metadata.Name))} grants it to other namespaces only";
    }

    /// <summary>The key-name prefixes granted to <paramref name="ns"/> on the vault, for the refusal's message.</summary>
    private async Task<IEnumerable<string>> PrefixesAsync(string ns, string vaultUri, CancellationToken cancellationToken) =>
        (await ListAsync(cancellationToken))
            .Where(v => v.Spec.AzureKeyVault is { KeyNamePrefix: { Length: > 0 } } g && SameVault(g.VaultUri, vaultUri) && NamespaceGrant.Includes(v.Spec.Namespaces, ns))
            .Select(v => $"\"{KeyNameGrant.Expand(v.Spec.AzureKeyVault!.KeyNamePrefix!, ns)}\"").Distinct();

    private async Task<IReadOnlyList<V1Alpha1ClusterKeyVault>> ListAsync(CancellationToken cancellationToken)
    {
        if (time.GetUtcNow() - _listed.At < ListAge)
            return _listed.Vaults;
        await _listing.WaitAsync(cancellationToken);
        try
        {
            if (time.GetUtcNow() - _listed.At < ListAge)
                return _listed.Vaults;
            var list = await client.ListAsync<V1Alpha1ClusterKeyVault>([], new Dictionary<string, string>(), cancellationToken);
            _listed = (time.GetUtcNow(), list);
            return _listed.Vaults;
        }
        finally
        {
            _listing.Release();
        }
    }

    private static bool SameVault(string a, string b) =>
        Uri.TryCreate(a, UriKind.Absolute, out var x) && Uri.TryCreate(b, UriKind.Absolute, out var y)
        && x.Scheme == y.Scheme && string.Equals(x.Host, y.Host, StringComparison.OrdinalIgnoreCase) && x.Port == y.Port;

    public void Dispose() => _listing.Dispose();
}
