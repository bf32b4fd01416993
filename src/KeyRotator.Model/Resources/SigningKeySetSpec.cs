namespace KeyRotator.Model.Resources;

/// <summary>The desired state of a SigningKeySet, as written by a platform team.</summary>
public sealed record SigningKeySetSpec
{
    /// <summary>The one JWS algorithm every key of the set uses (RS256 … ES512); pinned for the set's life.</summary>
    public string Algorithm { get; init; } = "";

    /// <summary>RSA modulus size in bits (2048, 3072 or 4096); ignored for EC algorithms.</summary>
    public int? RsaKeySize { get; init; }

    public RotationSpec Rotation { get; init; } = new();

    /// <summary>The longest lifetime of any token signed with these keys (Go duration).</summary>
    public string? MaxTokenLifetime { get; init; }

    /// <summary>The clock skew verifiers tolerate (Go duration).</summary>
    public string? ClockSkew { get; init; }

    public VaultSpec? Vault { get; init; }

    public JwksSpec? Jwks { get; init; }

    /// <summary>Places outside the cluster that must hold the JWKS before a key signs (ClusterPublishTargets granted to the namespace).</summary>
    public IList<PublishSpec>? Publish { get; init; }

    /// <summary>Kubernetes provider: the Secret where signers find the active private key.</summary>
    public string? SigningSecretName { get; init; }

    /// <summary>Emergency revocation: these kids leave every JWKS at once and never sign again.</summary>
    public IList<string>? RevokedKeyIds { get; init; }

    /// <summary>Retain or Delete the vault keys when the set is deleted.</summary>
    public string? DeletionPolicy { get; init; }

    public SignatureFailureAlertSpec? SignatureFailureAlert { get; init; }

    /// <summary>
    /// The set's keys sign the cluster's service-account tokens (the signer mode, Kubernetes' ExternalJWTSigner):
    /// only the algorithms the API server accepts, and a token lifetime the API server can be told.
    /// </summary>
    public bool? ServiceAccountIssuer { get; init; }
}
