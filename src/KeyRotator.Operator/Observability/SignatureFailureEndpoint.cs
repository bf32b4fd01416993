using System.Text.Json;
using System.Threading.RateLimiting;
using k8s.Models;
using KeyRotator.Operator.Configuration;
using KeyRotator.Operator.Runtime;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.Observability;

/// <summary>
/// POST /v1/namespaces/{ns}/signingkeysets/{name}/signaturefailures: verifiers report rejected tokens.
/// Callers authenticate with an audience-bound service-account token (TokenReview) and need
/// "create signingkeysets/signaturefailures" on the set (SubjectAccessReview). 401 without a valid
/// token, 403 without the permission, 400/413 for bad or oversized bodies, 429 for a caller that floods.
/// </summary>
public sealed class SignatureFailureEndpoint : IDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private static readonly HashSet<string> Reasons = ["unknown_kid", "bad_signature", "alg_rejected", "expired", "not_yet_valid", "audience", "issuer", "lifetime", "malformed"];

    private readonly CallerAuthenticator _callers;
    private readonly SignatureFailureTracker _tracker;
    private readonly PropagationTracker _propagation;
    private readonly PeerForwarder _peers;
    private readonly OperatorMetrics _metrics;
    private readonly ISigningKeySets _controller;
    private readonly ReportOptions _options;
    private readonly PartitionedRateLimiter<string> _perCaller;

    public SignatureFailureEndpoint(
        CallerAuthenticator callers, SignatureFailureTracker tracker, PropagationTracker propagation, PeerForwarder peers, OperatorMetrics metrics, ISigningKeySets controller,
        IOptions<OperatorOptions> options)
    {
        _callers = callers;
        _tracker = tracker;
        _propagation = propagation;
        _peers = peers;
        _metrics = metrics;
        _controller = controller;
        _options = options.Value.Reports;
        var rate = Math.Max(1, _options.RequestsPerSecondPerCaller);
        _perCaller = PartitionedRateLimiter.Create<string, string>(caller => RateLimitPartition.GetTokenBucketLimiter(caller, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = rate * 2,
            TokensPerPeriod = rate,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        }));
    }

    public async Task<IResult> HandleAsync(HttpContext context, string ns, string name)
    {
        var cancellationToken = context.RequestAborted;
        if (context.Request.ContentLength > _options.MaxBodyBytes)
            return Error(StatusCodes.Status413PayloadTooLarge, $"the report is larger than {_options.MaxBodyBytes} bytes; send smaller batches");

        // A report another replica accepted and passed on: its caller was authenticated and authorized
        // there; the replica proves itself with its own service-account token (PeerAudience, PeerIdentity).
        var forwardedCaller = context.Request.Headers[PeerForwarder.CallerHeader].ToString();
        var forwarded = forwardedCaller.Length > 0;
        string caller;
        if (forwarded)
        {
            var authorization = context.Request.Headers.Authorization.ToString();
            if (!_peers.Enabled || !authorization.StartsWith("Bearer ", StringComparison.Ordinal) || authorization.Length <= 7)
                return Unauthorized("not a replica of this operator (a forwarded report needs a replica's service-account token)");
            switch (await _callers.AuthenticateAsync(authorization[7..].Trim(), _options.PeerAudience, cancellationToken))
            {
                case CallerResult.Known known when _peers.IsPeer(known.User.Username):
                    break;
                case CallerResult.Unavailable unavailable:
                    return Unavailable(context, unavailable.Reason, unavailable.RetryAfterSeconds);
                default:
                    return Unauthorized("not a replica of this operator (its token does not stand for the operator's service account)");
            }

            if (forwardedCaller.Length > 512)
                return Error(StatusCodes.Status400BadRequest, $"the {PeerForwarder.CallerHeader} header is too long");
            caller = forwardedCaller;
        }
        else
        {
            var authorization = context.Request.Headers.Authorization.ToString();
            if (!authorization.StartsWith("Bearer ", StringComparison.Ordinal) || authorization.Length <= 7)
                return Unauthorized("a service-account token is required (Authorization: Bearer …, audience " + _options.Audience + ")");
            V1UserInfo user;
            switch (await _callers.AuthenticateAsync(authorization[7..].Trim(), cancellationToken))
            {
                case CallerResult.Known known:
                    user = known.User;
                    break;
                case CallerResult.Unavailable unavailable:
                    return Unavailable(context, unavailable.Reason, unavailable.RetryAfterSeconds);
                case var refused:
                    return Unauthorized(((CallerResult.Refused)refused).Reason);
            }

            using (var lease = _perCaller.AttemptAcquire(user.Username))
            {
                if (!lease.IsAcquired)
                {
                    context.Response.Headers.RetryAfter = "1";
                    return Error(StatusCodes.Status429TooManyRequests, "too many reports from this caller; batch failures and report at most a few times per second");
                }
            }

            var (allowed, unavailableReason) = await _callers.AuthorizeAsync(user, ns, name, cancellationToken);
            if (allowed is null)
                return Unavailable(context, unavailableReason!, 5);
            if (allowed == false)
                return Error(StatusCodes.Status403Forbidden, $"{user.Username} may not create signingkeysets/signaturefailures for {ns}/{name}");
            caller = user.Username;
        }

        var body = await ReadBodyAsync(context.Request, cancellationToken);
        if (body is null)
            return Error(StatusCodes.Status413PayloadTooLarge, $"the report is larger than {_options.MaxBodyBytes} bytes; send smaller batches");
        Report? report;
        try
        {
            report = JsonSerializer.Deserialize<Report>(body, Json);
        }
        catch (JsonException)
        {
            return Error(StatusCodes.Status400BadRequest, "the body is not JSON of the form {\"failures\":[{\"reason\":\"bad_signature\",\"kid\":\"…\",\"count\":3}]}");
        }

        var problem = Validate(report);
        if (problem is not null)
            return Error(StatusCodes.Status400BadRequest, problem);
        if (_controller.CachedSet(ns, name) is null)
            return Error(StatusCodes.Status404NotFound, $"there is no SigningKeySet {ns}/{name}");

        foreach (var failure in report!.Failures!)
        {
            _tracker.Record(ns, name, failure.Reason!, failure.Kid, failure.Count);
            // Counted by the replica that received it only, so that a sum over replicas counts each failure once.
            if (!forwarded)
                _metrics.SignatureFailures.WithLabels(ns, name, failure.Reason!).Inc(failure.Count);
        }

        // The caller, as the API server vouched for it, plus the instance it names (pods of one service share a service account).
        var identity = $"{caller}/{report.Instance ?? "-"}";
        var news = report.JwksHash is { } held && _propagation.ObserveVerifier(ns, name, identity, held);
        news |= report.SigningKid is { } signing && _propagation.ObserveSigner(ns, name, identity, signing);

        // A heartbeat that says nothing new costs no reconcile.
        if (news || report.Failures!.Any(f => f.Count > 0))
            _controller.Enqueue(new SetKey(ns, name));
        if (!forwarded)
            _peers.Forward(context.Request.Path, caller, body);
        return Results.Json(new { accepted = report.Failures!.Sum(f => f.Count) }, statusCode: StatusCodes.Status202Accepted);
    }

    private string? Validate(Report? report)
    {
        if (report?.Failures is null)
            return "the body needs a \"failures\" array";
        if (report.Failures.Count > _options.MaxEntries)
            return $"at most {_options.MaxEntries} entries per report";
        foreach (var failure in report.Failures)
        {
            if (failure.Reason is null || !Reasons.Contains(failure.Reason))
                return $"unknown reason \"{failure.Reason}\"; use one of {string.Join(", ", Reasons)}";
            if (failure.Count is < 0 or > 1_000_000)
                return "each count must be between 0 and 1000000";
            if (failure.Kid is { Length: > 128 })
                return "kid is too long";
        }

        if (report.Instance is { Length: > 253 })
            return "instance is too long (at most 253 characters, a pod name)";
        if (report.JwksHash is { } hash && (hash.Length is 0 or > 64 || !hash.All(char.IsAsciiHexDigitLower)))
            return "jwksHash must be the JWKS content hash, lower-case hex (the keyrotator.io/content-hash annotation of the ConfigMap)";
        if (report.SigningKid is { Length: 0 or > 128 })
            return "signingKid must be a kid of at most 128 characters";
        return null;
    }

    private async Task<byte[]?> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > _options.MaxBodyBytes)
                return null;
        }

        return buffer.ToArray();
    }

    /// <summary>503 with Retry-After: the report may be fine, its credentials could not be checked now. Never names the token.</summary>
    private static IResult Unavailable(HttpContext context, string reason, int retryAfterSeconds)
    {
        context.Response.Headers.RetryAfter = retryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Error(StatusCodes.Status503ServiceUnavailable, $"{reason}; send it again later");
    }

    private static IResult Unauthorized(string message) =>
        Results.Json(new { error = message }, statusCode: StatusCodes.Status401Unauthorized);

    private static IResult Error(int status, string message) => Results.Json(new { error = message }, statusCode: status);

    public void Dispose() => _perCaller.Dispose();

    /// <summary>
    /// A report: failure counts since the last one (may be empty), and, as a heartbeat, who the caller
    /// is (instance, usually the pod name) and what it holds (a verifier's JWKS content hash, a signer's kid).
    /// </summary>
    private sealed record Report(List<Entry>? Failures, string? Instance = null, string? JwksHash = null, string? SigningKid = null);

    private sealed record Entry(string? Reason, string? Kid, long Count);
}
