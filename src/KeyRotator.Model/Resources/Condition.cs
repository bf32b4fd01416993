namespace KeyRotator.Model.Resources;

/// <summary>The standard metav1.Condition shape.</summary>
public sealed record Condition
{
    public string Type { get; init; } = "";

    /// <summary>True, False or Unknown.</summary>
    public string Status { get; init; } = "";

    public long? ObservedGeneration { get; init; }

    public DateTimeOffset LastTransitionTime { get; init; }

    public string Reason { get; init; } = "";

    public string Message { get; init; } = "";
}
