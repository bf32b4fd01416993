namespace KeyRotator.Core.Model;

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

    public IList<Condition>? Conditions { get; init; }
}
