using System.Security.Claims;

namespace KeyRotator.Client;

public sealed record KeyRotatorValidationResult(bool IsValid, FailureReason? Reason, string? Kid, ClaimsIdentity? Identity, string Message)
{
    /// <summary>The validated token (set on success).</summary>
    public Microsoft.IdentityModel.JsonWebTokens.JsonWebToken? Token { get; init; }

    public static KeyRotatorValidationResult Success(string kid, ClaimsIdentity identity, Microsoft.IdentityModel.JsonWebTokens.JsonWebToken token) =>
        new(true, null, kid, identity, "valid") { Token = token };

    public static KeyRotatorValidationResult Failure(FailureReason reason, string? kid, string message) => new(false, reason, kid, null, message);
}
