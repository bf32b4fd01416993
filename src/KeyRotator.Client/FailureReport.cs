namespace KeyRotator.Client;

/// <summary>
/// The body a service posts to the operator: failure counts since the last report, and, as a heartbeat,
/// which instance it is, the content hash of the JWKS it holds and the kid it signs with (when it signs).
/// </summary>
public sealed record FailureReport(IReadOnlyList<FailureCount> Failures)
{
    public string? Instance { get; init; }

    public string? JwksHash { get; init; }

    public string? SigningKid { get; init; }
}

public sealed record FailureCount(string Reason, string? Kid, long Count);
