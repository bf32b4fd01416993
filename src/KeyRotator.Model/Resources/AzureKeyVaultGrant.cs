namespace KeyRotator.Model.Resources;

/// <summary>An Azure Key Vault a ClusterKeyVault grants, by its URL.</summary>
public sealed record AzureKeyVaultGrant
{
    public string VaultUri { get; init; } = "";

    /// <summary>
    /// The key names each granted namespace may use start with this, where "{namespace}" stands for the set's
    /// namespace (e.g. "{namespace}-"); every name in the vault when unset.
    /// </summary>
    public string? KeyNamePrefix { get; init; }
}
