namespace KeyRotator.Model.Resources;

/// <summary>An Azure Key Vault a ClusterKeyVault grants, by its URL.</summary>
public sealed record AzureKeyVaultGrant
{
    public string VaultUri { get; init; } = "";
}
