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

    /// <summary>
    /// The vault may have carried the request out although no answer said so (a timeout, a lost
    /// connection, a 5xx, a success whose body could not be read); false when the vault answered with a
    /// definite refusal (4xx), which changed nothing.
    /// </summary>
    public bool OutcomeUnknown { get; init; }
}
