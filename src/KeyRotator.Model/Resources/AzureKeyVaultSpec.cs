namespace KeyRotator.Model.Resources;

public sealed record AzureKeyVaultSpec
{
    /// <summary>The vault, e.g. https://example.vault.azure.net.</summary>
    public string VaultUri { get; init; } = "";

    /// <summary>The key whose versions are the set's keys.</summary>
    public string KeyName { get; init; } = "";

    /// <summary>Create HSM-protected keys (RSA-HSM, EC-HSM).</summary>
    public bool? Hsm { get; init; }
}
