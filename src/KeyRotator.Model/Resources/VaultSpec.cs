namespace KeyRotator.Model.Resources;

/// <summary>Where the private keys live.</summary>
public sealed record VaultSpec
{
    /// <summary>Kubernetes (default), AzureKeyVault or Pkcs11.</summary>
    public string? Provider { get; init; }

    public AzureKeyVaultSpec? AzureKeyVault { get; init; }

    public Pkcs11Spec? Pkcs11 { get; init; }
}
