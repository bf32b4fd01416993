namespace KeyRotator.Model.Resources;

/// <summary>What one target of spec.publish holds, as the operator last wrote or checked it.</summary>
public sealed record ExternalTargetStatus
{
    /// <summary>The ClusterPublishTarget.</summary>
    public string Target { get; init; } = "";

    /// <summary>The path in the target, as spec.publish names it.</summary>
    public string Path { get; init; } = "";

    /// <summary>The content hash of the JWKS the target holds (the JWKS ConfigMap's keyrotator.io/content-hash when they agree).</summary>
    public string ContentHash { get; init; } = "";

    /// <summary>When the storage service last changed the target's documents (its Last-Modified).</summary>
    public DateTimeOffset? WrittenAt { get; init; }
}
