namespace KeyRotator.Operator.Vault;

/// <summary>Ready=False reasons for a set whose vault the operator will not use.</summary>
public static class HoldReasons
{
    /// <summary>No ClusterKeyVault grants the set's Azure Key Vault or PKCS#11 token to its namespace.</summary>
    public const string VaultNotGranted = "VaultNotGranted";

    /// <summary>The PKCS#11 module is not on the operator's allow-list (KeyRotator:Pkcs11:Libraries).</summary>
    public const string LibraryNotAllowed = "LibraryNotAllowed";
}
