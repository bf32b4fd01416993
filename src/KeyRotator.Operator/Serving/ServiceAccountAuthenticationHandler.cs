using System.Globalization;
using System.Security.Claims;
using System.Text.Encodings.Web;
using KeyRotator.Operator.Configuration;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.Serving;

/// <summary>
/// The HTTP room's one authentication handler, registered as two schemes (<see cref="ReportAuth.Scheme"/>,
/// <see cref="MetricsAuth.Scheme"/>): who sends the request, from its service-account token
/// (<see cref="CallerAuthenticator"/>: local checks, then a cached TokenReview within the review budget),
/// bound to the scheme's audience. On the report scheme, a report another replica passed on is
/// authenticated by that replica's own token (audience <c>keyrotator-peers</c>) with the original caller
/// named in a header. A request without a usable token is challenged with 401 and the reason; one whose
/// token cannot be checked now (the API server, the TokenReview budget) with 503 and Retry-After. Never
/// names the token.
/// </summary>
public sealed class ServiceAccountAuthenticationHandler(
    IOptionsMonitor<ServiceAccountSchemeOptions> schemeOptions,
    ILoggerFactory loggers,
    UrlEncoder encoder,
    CallerAuthenticator callers,
    PeerForwarder peers,
    IOptions<OperatorOptions> options) : AuthenticationHandler<ServiceAccountSchemeOptions>(schemeOptions, loggers, encoder)
{
    private const string NotAPeer = "not a replica of this operator";

    /// <summary>The item of a failed result's properties that says the token could not be checked now: seconds until the caller may retry.</summary>
    private const string RetryAfterItem = "keyrotator.io/retry-after";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var token = BearerToken.Of(Request);
        if (Options.AcceptsForwardedReports && Request.Headers[PeerForwarder.CallerHeader].ToString() is { Length: > 0 } forwardedCaller)
        {
            if (!peers.Enabled || token is null)
                return AuthenticateResult.Fail($"{NotAPeer} (a forwarded report needs a replica's service-account token)");
            return await callers.AuthenticateAsync(token, options.Value.Reports.PeerAudience, Context.RequestAborted) switch
            {
                CallerResult.Known known when peers.IsPeer(known.User.Username) => Success(CallerPrincipal.Of(forwardedCaller, null, forwarded: true, Scheme.Name)),
                CallerResult.Unavailable unavailable => Unavailable(unavailable),
                _ => AuthenticateResult.Fail($"{NotAPeer} (its token does not stand for the operator's service account)"),
            };
        }

        if (token is null)
            return AuthenticateResult.Fail(Options.MissingToken);
        return await callers.AuthenticateAsync(token, Options.Audience, Context.RequestAborted) switch
        {
            CallerResult.Known known => Success(CallerPrincipal.Of(known.User.Username, known.User, forwarded: false, Scheme.Name)),
            CallerResult.Unavailable unavailable => Unavailable(unavailable),
            CallerResult.Refused refused => AuthenticateResult.Fail(refused.Reason),
            var other => AuthenticateResult.Fail($"unexpected {other.GetType().Name}"),
        };
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        if (result.Properties?.Items.TryGetValue(RetryAfterItem, out var retryAfter) == true)
        {
            await ErrorAnswer.WriteAsync(Context, StatusCodes.Status503ServiceUnavailable, $"{result.Failure?.Message}; {Options.ComeBack}",
                int.Parse(retryAfter!, CultureInfo.InvariantCulture));
            return;
        }

        Response.Headers.WWWAuthenticate = "Bearer";
        await ErrorAnswer.WriteAsync(Context, StatusCodes.Status401Unauthorized, result.Failure?.Message ?? "a service-account token is required");
    }

    private AuthenticateResult Success(ClaimsPrincipal principal) => AuthenticateResult.Success(new AuthenticationTicket(principal, Scheme.Name));

    private static AuthenticateResult Unavailable(CallerResult.Unavailable unavailable) =>
        AuthenticateResult.Fail(unavailable.Reason, new AuthenticationProperties(new Dictionary<string, string?>
        {
            [RetryAfterItem] = unavailable.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture),
        }));
}
