namespace KeyRotator.Core.Lifecycle;

/// <summary>Operator-wide limits that every SigningKeySet is validated against.</summary>
public sealed record RotationPolicyOptions
{
    /// <summary>
    /// Mounted ConfigMaps reach pods after the kubelet sync period plus its cache TTL (about 1–2 minutes),
    /// so a key published for less than this may be unknown to verifiers when it starts signing.
    /// </summary>
    public TimeSpan MinimumPrePublish { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Rotations more frequent than this are refused as a likely typo (e.g. 720s for 720h).</summary>
    public TimeSpan MinimumInterval { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How long signers may keep signing with a key after the signing Secret stopped naming it: a pod
    /// that mounts the Secret sees the change only after the kubelet syncs the volume (about 1–2 minutes).
    /// A token minted in that time must still find its key in the JWKS, so overlap must cover it too.
    /// </summary>
    public TimeSpan SignerPropagationAllowance { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Verifiers should not tolerate more skew than this.</summary>
    public TimeSpan MaximumClockSkew { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How many retired or revoked keys status remembers before they are pruned.</summary>
    public int RetiredKeyHistory { get; init; } = 5;
}
