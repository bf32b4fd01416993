using Microsoft.AspNetCore.Http;

namespace KeyRotator.Operator.Serving;

/// <summary>
/// The one place the HTTP room reads a bearer token from a request: the authentication schemes use it,
/// and the JWKS endpoint asks it only whether a fetch carries one (an anonymous fetch costs nothing more).
/// </summary>
public static class BearerToken
{
    private const string Prefix = "Bearer ";

    /// <summary>The token of <c>Authorization: Bearer …</c>, trimmed; null when the request carries none.</summary>
    public static string? Of(HttpRequest request)
    {
        var authorization = request.Headers.Authorization.ToString();
        return authorization.StartsWith(Prefix, StringComparison.Ordinal) && authorization.Length > Prefix.Length
            ? authorization[Prefix.Length..].Trim()
            : null;
    }
}
