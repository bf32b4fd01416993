using KeyRotator.Model.Resources;

namespace KeyRotator.Operator.ServiceAccountSigner;

/// <summary>
/// One reading of the issuer set, as the signer keeps it on disk (<see cref="StateFile"/>) to serve from at
/// boot without the API server: the set's identity and spec, the JWKS the operator published for it and
/// what its signing Secret names. A private key only for the Kubernetes provider (whose key lives in
/// Kubernetes anyway); for a vault, the kid and the key reference, never key material.
/// </summary>
public sealed record IssuerState
{
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;

    public required string Namespace { get; init; }

    public required string Name { get; init; }

    public required string Uid { get; init; }

    public required SigningKeySetSpec Spec { get; init; }

    /// <summary>The JWKS document the operator published for the set (jwks.json of its own ConfigMap).</summary>
    public string? Jwks { get; init; }

    public string? SigningKid { get; init; }

    public string? SigningAlg { get; init; }

    /// <summary>Where the signing key lives in its vault (Azure key id, PKCS#11 URI); null for the Kubernetes provider.</summary>
    public string? KeyReference { get; init; }

    /// <summary>The signing key's PKCS#8 PEM, for the Kubernetes provider only.</summary>
    public string? PrivateKeyPem { get; init; }

    /// <summary>When the API server answered with this.</summary>
    public required DateTimeOffset ReadAt { get; init; }

    public string Provider => Spec.Vault?.Provider ?? "Kubernetes";

    public override string ToString() => $"issuer state of {Namespace}/{Name} read at {ReadAt:O}, signing {SigningKid ?? "nothing"}";
}
