using k8s.Models;

namespace KeyRotator.Operator.Serving;

/// <summary>What <see cref="CallerAuthenticator"/> found out about a bearer token.</summary>
public abstract record CallerResult
{
    private CallerResult()
    {
    }

    /// <summary>The API server vouched for this caller.</summary>
    public sealed record Known(V1UserInfo User) : CallerResult;

    /// <summary>The token is not a valid service-account token for the audience (401).</summary>
    public sealed record Refused(string Reason) : CallerResult;

    /// <summary>The token could not be checked now (503 with Retry-After); never names the token.</summary>
    public sealed record Unavailable(string Reason, int RetryAfterSeconds) : CallerResult;
}
