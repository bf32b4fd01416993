using System.Security.Claims;

namespace KeyRotator.Client;

public sealed record KeyRotatorValidationResult(bool IsValid, FailureReason? Reason, string? Kid, ClaimsIdentity? Identity, string Message)
{
    public static KeyRotatorValidationResult Success(string kid, ClaimsIdentity identity) => new(true, null, kid, identity, "valid");

    public static KeyRotatorValidationResult Failure(FailureReason reason, string? kid, string message) => new(false, reason, kid, null, message);
}
