namespace KeyRotator.Operator.Vault;

/// <summary>
/// A key store that signs with a key it never lets out (Azure Key Vault, PKCS#11). Refusals are
/// <see cref="KeyStoreException"/>s with the vault's reason; a key that is gone or disabled is KeyMissing.
/// </summary>
public interface ISignsInVault
{
    /// <summary>The JWS signature of <paramref name="signingInput"/> with the key <paramref name="kid"/> (raw r||s for ES*).</summary>
    Task<byte[]> SignAsync(KeySetContext set, string kid, byte[] signingInput, CancellationToken cancellationToken);
}
