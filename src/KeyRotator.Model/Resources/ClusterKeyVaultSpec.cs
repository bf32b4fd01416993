namespace KeyRotator.Model.Resources;

/// <summary>A vault the platform team grants: exactly one of an Azure Key Vault or a PKCS#11 token, and who may use it.</summary>
public sealed record ClusterKeyVaultSpec
{
    public AzureKeyVaultGrant? AzureKeyVault { get; init; }

    public Pkcs11Grant? Pkcs11 { get; init; }

    /// <summary>Namespaces whose SigningKeySets may use the vault; "*" for all.</summary>
    public IList<string> Namespaces { get; init; } = [];
}
