namespace KeyRotator.Model.Resources;

/// <summary>A PKCS#11 token a ClusterKeyVault grants: the module and the token's label.</summary>
public sealed record Pkcs11Grant
{
    public string Library { get; init; } = "";

    public string TokenLabel { get; init; } = "";
}
