namespace KeyRotator.Model.Resources;

/// <summary>One key of the set and where it is in its lifecycle.</summary>
public sealed record KeyStatus
{
    /// <summary>RFC 7638 thumbprint of the public key.</summary>
    public string Kid { get; init; } = "";

    /// <summary>Pending, Active, Retiring, Retired or Revoked.</summary>
    public string State { get; init; } = "";

    /// <summary>The rotation generation that created the key (vault keys are tagged with it).</summary>
    public long Generation { get; init; }

    public DateTimeOffset? CreatedAt { get; init; }

    public DateTimeOffset? ActivatesAt { get; init; }

    public DateTimeOffset? ActivatedAt { get; init; }

    public DateTimeOffset? RetiresAt { get; init; }

    public DateTimeOffset? RetiredAt { get; init; }

    public DateTimeOffset? RevokedAt { get; init; }

    /// <summary>When signing went back from this key to the previous one; it activates again only once verifiers hold it.</summary>
    public DateTimeOffset? RolledBackAt { get; init; }

    /// <summary>Where the private key lives: a Secret key, an Azure key id or a PKCS#11 label.</summary>
    public string? VaultRef { get; init; }
}
