using System.Security.Claims;
using Microsoft.IdentityModel.JsonWebTokens;

namespace KeyRotator.Client;

public sealed record KeyRotatorValidationResult(bool IsValid, FailureReason? Reason, string? Kid, ClaimsIdentity? Identity, string Message)
{
    /// <summary>The authentication type of identities built from validated tokens.</summary>
    public const string AuthenticationType = "KeyRotator";

    private ClaimsIdentity? _identity = Identity;

    /// <summary>The validated token (set on success).</summary>
    public JsonWebToken? Token { get; init; }

    /// <summary>
    /// On success, the identity of the token's claims (name claim "sub", role claim "role"). Built when
    /// first read, as JsonWebTokenHandler's result does: a caller that only needs the verdict or a claim
    /// from <see cref="Token"/> does not pay for it.
    /// </summary>
    public ClaimsIdentity? Identity
    {
        get => _identity ??= IsValid && Token is { } token ? new ClaimsIdentity(token.Claims, AuthenticationType, "sub", "role") : null;
        init => _identity = value;
    }

    public static KeyRotatorValidationResult Success(string kid, ClaimsIdentity identity, JsonWebToken token) =>
        new(true, null, kid, identity, "valid") { Token = token };

    /// <summary>Success, with the identity built from <paramref name="token"/> when first read.</summary>
    public static KeyRotatorValidationResult Success(string kid, JsonWebToken token) =>
        new(true, null, kid, null, "valid") { Token = token };

    public static KeyRotatorValidationResult Failure(FailureReason reason, string? kid, string message) => new(false, reason, kid, null, message);
}
