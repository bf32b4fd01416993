using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.Serving;

/// <summary>The names that tie /metrics to its authentication scheme and authorization policy.</summary>
public static class MetricsAuth
{
    public const string Path = "/metrics";
    public const string Scheme = "KeyRotatorMetricsReader";
    public const string Policy = "MayReadMetrics";
}

/// <summary>
/// Who scrapes /metrics: a service-account token the API server accepts for its own audiences (the
/// token a Prometheus pod mounts; controller-runtime's metrics filter reviews it the same way), checked
/// locally first and then by a cached TokenReview within the operator's TokenReview budget
/// (<see cref="CallerAuthenticator"/>). Without a usable token: 401 with the reason; when the token
/// cannot be checked now: 503 with Retry-After. Never names the token.
/// </summary>
public sealed class MetricsAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> schemeOptions,
    ILoggerFactory loggers,
    UrlEncoder encoder,
    CallerAuthenticator callers) : AuthenticationHandler<AuthenticationSchemeOptions>(schemeOptions, loggers, encoder)
{
    private CallerResult.Unavailable? _unavailable;

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var authorization = Request.Headers.Authorization.ToString();
        if (!authorization.StartsWith("Bearer ", StringComparison.Ordinal) || authorization.Length <= 7)
            return AuthenticateResult.Fail("a service-account token is required (Authorization: Bearer …) of a caller allowed to get /metrics");
        return await callers.AuthenticateAsync(authorization[7..].Trim(), audience: null, Context.RequestAborted) switch
        {
            CallerResult.Known known => AuthenticateResult.Success(new AuthenticationTicket(ReportAuth.Principal(known.User.Username, known.User, forwarded: false), Scheme.Name)),
            CallerResult.Unavailable unavailable => Unavailable(unavailable),
            CallerResult.Refused refused => AuthenticateResult.Fail(refused.Reason),
            var other => AuthenticateResult.Fail($"unexpected {other.GetType().Name}"),
        };
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        if (_unavailable is { } unavailable)
        {
            await ReportErrors.WriteAsync(Context, Microsoft.AspNetCore.Http.StatusCodes.Status503ServiceUnavailable, $"{unavailable.Reason}; scrape again later", unavailable.RetryAfterSeconds);
            return;
        }

        Response.Headers.WWWAuthenticate = "Bearer";
        await ReportErrors.WriteAsync(Context, Microsoft.AspNetCore.Http.StatusCodes.Status401Unauthorized, result.Failure?.Message ?? "a service-account token is required");
    }

    private AuthenticateResult Unavailable(CallerResult.Unavailable unavailable)
    {
        _unavailable = unavailable;
        return AuthenticateResult.Fail(unavailable.Reason);
    }
}
