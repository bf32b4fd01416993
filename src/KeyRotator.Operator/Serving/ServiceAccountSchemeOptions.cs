using Microsoft.AspNetCore.Authentication;

namespace KeyRotator.Operator.Serving;

/// <summary>What one <see cref="ServiceAccountAuthenticationHandler"/> scheme accepts and how it words a refusal.</summary>
public sealed class ServiceAccountSchemeOptions : AuthenticationSchemeOptions
{
    /// <summary>The audience a caller's token must be bound to; null: one the API server accepts for its own audiences.</summary>
    public string? Audience { get; set; }

    /// <summary>Whether a report another replica passed on (<see cref="PeerForwarder.CallerHeader"/>) is accepted on that replica's token.</summary>
    public bool AcceptsForwardedReports { get; set; }

    /// <summary>The 401's message when the request carries no bearer token.</summary>
    public string MissingToken { get; set; } = "a service-account token is required";

    /// <summary>What the 503 asks the caller to do when its token cannot be checked now.</summary>
    public string ComeBack { get; set; } = "try again later";
}
