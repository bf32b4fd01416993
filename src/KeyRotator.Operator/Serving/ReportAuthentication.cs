using System.Security.Claims;
using System.Text.Encodings.Web;
using k8s.Models;
using KeyRotator.Operator.Configuration;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.Serving;

/// <summary>The names that tie the report endpoint to its authentication scheme, authorization policy and rate limit.</summary>
public static class ReportAuth
{
    public const string Scheme = "KeyRotatorServiceAccount";
    public const string Policy = "MayReportForSet";
    public const string RateLimit = "ReportsPerCaller";

    /// <summary>A report another replica accepted and passed on; its caller was authorized there.</summary>
    public const string ForwardedClaim = "keyrotator.io/forwarded";

    private const string UidClaim = "keyrotator.io/uid";
    private const string GroupClaim = "keyrotator.io/group";
    private const string ExtraClaim = "keyrotator.io/extra/";

    /// <summary>The user extra a TokenReview answers for a token bound to a pod: the pod's name.</summary>
    public const string PodNameExtra = "authentication.kubernetes.io/pod-name";

    public static bool IsForwarded(ClaimsPrincipal user) => user.HasClaim(ForwardedClaim, "true");

    /// <summary>
    /// The pod a caller's token is bound to, as the API server vouched for it (TokenReview's user extra);
    /// null for a token bound to no pod. A caller's instance is this, never a name it chooses, when there is one.
    /// </summary>
    public static string? PodOf(V1UserInfo user) =>
        user.Extra?.TryGetValue(PodNameExtra, out var pods) == true && pods is [{ Length: > 0 and <= 253 } pod] ? pod : null;

    /// <summary>The caller as the API server vouched for it (for SubjectAccessReview).</summary>
    public static V1UserInfo UserOf(ClaimsPrincipal user) => new()
    {
        Username = user.Identity?.Name,
        Uid = user.FindFirst(UidClaim)?.Value,
        Groups = [.. user.FindAll(GroupClaim).Select(c => c.Value)],
        Extra = user.Claims.Where(c => c.Type.StartsWith(ExtraClaim, StringComparison.Ordinal))
            .GroupBy(c => c.Type[ExtraClaim.Length..])
            .ToDictionary(g => g.Key, g => (IList<string>)[.. g.Select(c => c.Value)]),
    };

    internal static ClaimsPrincipal Principal(string name, V1UserInfo? user, bool forwarded)
    {
        var claims = new List<Claim> { new(ClaimTypes.Name, name) };
        if (forwarded)
            claims.Add(new Claim(ForwardedClaim, "true"));
        if (user?.Uid is { } uid)
            claims.Add(new Claim(UidClaim, uid));
        claims.AddRange((user?.Groups ?? []).Select(g => new Claim(GroupClaim, g)));
        foreach (var (key, values) in user?.Extra ?? new Dictionary<string, IList<string>>())
            claims.AddRange(values.Select(v => new Claim(ExtraClaim + key, v)));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, Scheme));
    }
}

/// <summary>
/// Who sends a failure report: an audience-bound service-account token (<see cref="CallerAuthenticator"/>:
/// local checks, then a cached TokenReview), or, for a report another replica passed on, that replica's
/// own token (audience <c>keyrotator-peers</c>) with the original caller named in a header. A request
/// without a usable token is challenged with 401 and the reason; one whose token cannot be checked now
/// (the API server, the TokenReview budget) with 503 and Retry-After. Never names the token.
/// </summary>
public sealed class ReportAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> schemeOptions,
    ILoggerFactory loggers,
    UrlEncoder encoder,
    CallerAuthenticator callers,
    PeerForwarder peers,
    IOptions<OperatorOptions> options) : AuthenticationHandler<AuthenticationSchemeOptions>(schemeOptions, loggers, encoder)
{
    private const string NotAPeer = "not a replica of this operator";
    private CallerResult.Unavailable? _unavailable;

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var reports = options.Value.Reports;
        var authorization = Request.Headers.Authorization.ToString();
        var token = authorization.StartsWith("Bearer ", StringComparison.Ordinal) && authorization.Length > 7 ? authorization[7..].Trim() : null;
        var forwardedCaller = Request.Headers[PeerForwarder.CallerHeader].ToString();
        if (forwardedCaller.Length > 0)
        {
            if (!peers.Enabled || token is null)
                return AuthenticateResult.Fail($"{NotAPeer} (a forwarded report needs a replica's service-account token)");
            return await callers.AuthenticateAsync(token, reports.PeerAudience, Context.RequestAborted) switch
            {
                CallerResult.Known known when peers.IsPeer(known.User.Username) => Success(ReportAuth.Principal(forwardedCaller, null, forwarded: true)),
                CallerResult.Unavailable unavailable => Unavailable(unavailable),
                _ => AuthenticateResult.Fail($"{NotAPeer} (its token does not stand for the operator's service account)"),
            };
        }

        if (token is null)
            return AuthenticateResult.Fail($"a service-account token is required (Authorization: Bearer …, audience {reports.Audience})");
        return await callers.AuthenticateAsync(token, Context.RequestAborted) switch
        {
            CallerResult.Known known => Success(ReportAuth.Principal(known.User.Username, known.User, forwarded: false)),
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
            await ReportErrors.WriteAsync(Context, StatusCodes.Status503ServiceUnavailable, $"{unavailable.Reason}; send it again later", unavailable.RetryAfterSeconds);
            return;
        }

        Response.Headers.WWWAuthenticate = "Bearer";
        await ReportErrors.WriteAsync(Context, StatusCodes.Status401Unauthorized, result.Failure?.Message ?? "a service-account token is required");
    }

    private AuthenticateResult Success(ClaimsPrincipal principal) => AuthenticateResult.Success(new AuthenticationTicket(principal, Scheme.Name));

    private AuthenticateResult Unavailable(CallerResult.Unavailable unavailable)
    {
        _unavailable = unavailable;
        return AuthenticateResult.Fail(unavailable.Reason);
    }
}

/// <summary>The report endpoint's error answers: <c>{"error": "…"}</c>, with Retry-After when the caller should come back.</summary>
public static class ReportErrors
{
    public static Task WriteAsync(HttpContext context, int status, string message, int? retryAfterSeconds = null)
    {
        context.Response.StatusCode = status;
        if (retryAfterSeconds is { } seconds)
            context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return context.Response.WriteAsJsonAsync(Body(message), context.RequestAborted);
    }

    /// <summary>The same answer, as the endpoint returns it.</summary>
    public static IResult Result(int status, string message) => Results.Json(Body(message), statusCode: status);

    private static object Body(string message) => new { error = message };
}
