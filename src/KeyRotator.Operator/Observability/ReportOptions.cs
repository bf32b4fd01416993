namespace KeyRotator.Operator.Observability;

/// <summary>Limits of the signature-failure report endpoint (configuration "KeyRotator:Reports").</summary>
public sealed class ReportOptions
{
    /// <summary>The audience service-account tokens must be bound to.</summary>
    public string Audience { get; set; } = "keyrotator";

    public int MaxBodyBytes { get; set; } = 64 * 1024;

    public int MaxEntries { get; set; } = 1000;

    /// <summary>Reports per second one caller may send (token bucket; bursts up to twice this).</summary>
    public int RequestsPerSecondPerCaller { get; set; } = 5;

    /// <summary>How long a TokenReview or SubjectAccessReview answer is reused.</summary>
    public TimeSpan ReviewCacheTtl { get; set; } = TimeSpan.FromSeconds(30);
}
