namespace KeyRotator.Model.Resources;

/// <summary>
/// What the set's keys were made with, recorded when the first key is created. Keys cannot change
/// algorithm, size or vault, so a spec that changes these later is refused rather than followed.
/// </summary>
public sealed record KeyParameters
{
    public string Algorithm { get; init; } = "";

    /// <summary>RSA only.</summary>
    public int? RsaKeySize { get; init; }

    /// <summary>The provider and the coordinates of the vault (Key Vault URI and key name, PKCS#11 module and token).</summary>
    public string Vault { get; init; } = "";
}
