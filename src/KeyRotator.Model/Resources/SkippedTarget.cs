namespace KeyRotator.Model.Resources;

/// <summary>A namespace in spec.jwks.targetNamespaces that holds no copy of the JWKS, and why.</summary>
public sealed record SkippedTarget
{
    public string Namespace { get; init; } = "";

    /// <summary>NamespaceNotFound, NotAccepted, NamespaceUnreadable or NameConflict.</summary>
    public string Reason { get; init; } = "";

    public string Message { get; init; } = "";
}
