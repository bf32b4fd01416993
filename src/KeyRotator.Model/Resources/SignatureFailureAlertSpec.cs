namespace KeyRotator.Model.Resources;

/// <summary>When reported signature-validation failures count as a spike.</summary>
public sealed record SignatureFailureAlertSpec
{
    /// <summary>The sliding window (Go duration).</summary>
    public string? Window { get; init; }

    /// <summary>Failures within the window below which no spike is raised.</summary>
    public int? Threshold { get; init; }

    /// <summary>How many times the baseline rate the window must reach.</summary>
    public double? Ratio { get; init; }
}
