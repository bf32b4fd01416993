namespace KeyRotator.Operator.Vault;

/// <summary>
/// A vault failure with a message that is safe to show in conditions and Events: it names the
/// operation and the vault's answer, never key material or credentials.
/// </summary>
public sealed class KeyStoreException : Exception
{
    public KeyStoreException()
    {
    }

    public KeyStoreException(string message)
        : base(message)
    {
    }

    public KeyStoreException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>A condition reason such as VaultUnavailable or VaultAccessDenied.</summary>
    public string Reason { get; init; } = "VaultError";
}
