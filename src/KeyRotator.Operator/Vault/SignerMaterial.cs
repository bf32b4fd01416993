namespace KeyRotator.Operator.Vault;

/// <summary>
/// What a signer needs for one key: the private key PEM (Kubernetes store) or a reference to a key that
/// never leaves its vault. ToString never prints the PEM.
/// </summary>
public sealed class SignerMaterial(string kid, string algorithm, string? privateKeyPem, string? keyReference)
{
    public string Kid { get; } = kid;

    public string Algorithm { get; } = algorithm;

    public string? PrivateKeyPem { get; } = privateKeyPem;

    public string? KeyReference { get; } = keyReference;

    public override string ToString() => $"signer material for {Kid}";
}
