namespace KeyRotator.Operator.Publishing;

/// <summary>A JWKS copy that was not written, and why (reported in status and as an Event).</summary>
public sealed record CopyProblem(string Namespace, string Reason, string Message);
