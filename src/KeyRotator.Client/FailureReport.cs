namespace KeyRotator.Client;

/// <summary>The body a service posts to the operator: failure counts since the last report.</summary>
public sealed record FailureReport(IReadOnlyList<FailureCount> Failures);

public sealed record FailureCount(string Reason, string? Kid, long Count);
