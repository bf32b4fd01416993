namespace KeyRotator.Model.Resources;

/// <summary>What the operator observed and did; the only state a restarted operator needs.</summary>
public sealed record SigningKeySetStatus
{
    public long? ObservedGeneration { get; init; }

    public string? ActiveKeyId { get; init; }

    public string? NextKeyId { get; init; }

    public IList<KeyStatus>? Keys { get; init; }

    public DateTimeOffset? LastRotationTime { get; init; }

    public DateTimeOffset? NextRotationTime { get; init; }

    /// <summary>The last value of the keyrotator.io/rotate-now annotation that was acted on.</summary>
    public string? LastRotateNowRequest { get; init; }

    /// <summary>Algorithm, key size and vault of the set's keys, pinned when the first key was created.</summary>
    public KeyParameters? KeyParameters { get; init; }

    /// <summary>spec.jwks.targetNamespaces that hold no copy, and why.</summary>
    public IList<SkippedTarget>? SkippedTargets { get; init; }

    /// <summary>The targets of spec.publish and what each holds, once every one of them holds the JWKS.</summary>
    public IList<ExternalTargetStatus>? ExternalTargets { get; init; }

    /// <summary>Which keys verifiers and signers hold, as they report it.</summary>
    public PropagationStatus? Propagation { get; init; }

    public IList<Condition>? Conditions { get; init; }
}
