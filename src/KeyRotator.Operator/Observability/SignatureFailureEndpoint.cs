using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading.RateLimiting;
using k8s;
using k8s.Autorest;
using k8s.Models;
using KeyRotator.Operator.Controllers;
using KeyRotator.Operator.Entities;
using KeyRotator.Operator.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.Observability;

/// <summary>
/// POST /v1/namespaces/{ns}/signingkeysets/{name}/signaturefailures: verifiers report rejected tokens.
/// Callers authenticate with an audience-bound service-account token (TokenReview) and need
/// "create signingkeysets/signaturefailures" on the set (SubjectAccessReview). 401 without a valid
/// token, 403 without the permission, 400/413 for bad or oversized bodies, 429 for a caller that floods.
/// </summary>
public sealed partial class SignatureFailureEndpoint : IDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private static readonly HashSet<string> Reasons = ["unknown_kid", "bad_signature", "alg_rejected", "expired", "not_yet_valid", "audience", "issuer", "lifetime", "malformed"];

    private readonly IKubernetes _kubernetes;
    private readonly SignatureFailureTracker _tracker;
    private readonly PropagationTracker _propagation;
    private readonly PeerForwarder _peers;
    private readonly OperatorMetrics _metrics;
    private readonly SigningKeySetController _controller;
    private readonly TimeProvider _time;
    private readonly ReportOptions _options;
    private readonly ILogger<SignatureFailureEndpoint> _logger;
    private readonly PartitionedRateLimiter<string> _perCaller;
    private readonly ConcurrentDictionary<string, (DateTimeOffset Until, V1UserInfo User)> _tokens = new();
    private readonly ConcurrentDictionary<string, (DateTimeOffset Until, bool Allowed)> _decisions = new();
    private readonly ConcurrentDictionary<string, Lazy<Task<V1UserInfo?>>> _reviewing = new();
    private readonly SemaphoreSlim _reviews;

    public SignatureFailureEndpoint(
        IKubernetes kubernetes, SignatureFailureTracker tracker, PropagationTracker propagation, PeerForwarder peers, OperatorMetrics metrics, SigningKeySetController controller,
        TimeProvider time, IOptions<OperatorOptions> options, ILogger<SignatureFailureEndpoint> logger)
    {
        _kubernetes = kubernetes;
        _tracker = tracker;
        _propagation = propagation;
        _peers = peers;
        _metrics = metrics;
        _controller = controller;
        _time = time;
        _options = options.Value.Reports;
        _logger = logger;
        _reviews = new SemaphoreSlim(Math.Max(1, _options.MaxConcurrentReviews));
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

        // A report another replica accepted and passed on: its caller was authenticated and authorized there.
        var peerSecret = context.Request.Headers[PeerForwarder.SecretHeader].ToString();
        var forwarded = peerSecret.Length > 0;
        string caller;
        if (forwarded)
        {
            if (!_peers.IsPeer(peerSecret))
                return Unauthorized("not a replica of this operator (the peer secret does not match)");
            caller = context.Request.Headers[PeerForwarder.CallerHeader].ToString();
            if (caller.Length is 0 or > 512)
                return Error(StatusCodes.Status400BadRequest, $"a forwarded report needs the {PeerForwarder.CallerHeader} header");
        }
        else
        {
            var authorization = context.Request.Headers.Authorization.ToString();
            if (!authorization.StartsWith("Bearer ", StringComparison.Ordinal) || authorization.Length <= 7)
                return Unauthorized("a service-account token is required (Authorization: Bearer …, audience " + _options.Audience + ")");
            V1UserInfo? user;
            try
            {
                user = await AuthenticateAsync(authorization[7..].Trim(), cancellationToken);
            }
            catch (Exception e) when (IsReviewFailure(e, cancellationToken))
            {
                return ReviewUnavailable(context, "TokenReview", e);
            }

            if (user is null)
                return Unauthorized($"the token is not a valid service-account token for audience {_options.Audience}");

            using (var lease = _perCaller.AttemptAcquire(user.Username))
            {
                if (!lease.IsAcquired)
                {
                    context.Response.Headers.RetryAfter = "1";
                    return Error(StatusCodes.Status429TooManyRequests, "too many reports from this caller; batch failures and report at most a few times per second");
                }
            }

            bool allowed;
            try
            {
                allowed = await AuthorizeAsync(user, ns, name, cancellationToken);
            }
            catch (Exception e) when (IsReviewFailure(e, cancellationToken))
            {
                return ReviewUnavailable(context, "SubjectAccessReview", e);
            }

            if (!allowed)
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
        if (!_controller.CachedSets.Any(s => s.Metadata.NamespaceProperty == ns && s.Metadata.Name == name))
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

    private async Task<V1UserInfo?> AuthenticateAsync(string token, CancellationToken cancellationToken)
    {
        var key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
        var now = _time.GetUtcNow();
        if (_tokens.TryGetValue(key, out var cached) && cached.Until > now)
            return cached.User;

        // Concurrent reports with one token share one TokenReview.
        var review = _reviewing.GetOrAdd(key, _ => new Lazy<Task<V1UserInfo?>>(() => ReviewAsync(key, token)));
        try
        {
            return await review.Value.WaitAsync(cancellationToken);
        }
        finally
        {
            if (review.Value.IsCompleted)
                _reviewing.TryRemove(new KeyValuePair<string, Lazy<Task<V1UserInfo?>>>(key, review));
        }
    }

    private async Task<V1UserInfo?> ReviewAsync(string key, string token)
    {
        // Shared by every report that carries this token, so bound by time rather than by one caller.
        var review = await InTurnAsync(ct => _kubernetes.AuthenticationV1.CreateTokenReviewAsync(new V1TokenReview
        {
            Spec = new V1TokenReviewSpec { Token = token, Audiences = [_options.Audience] },
        }, cancellationToken: ct), CancellationToken.None);
        if (review.Status?.Authenticated != true || review.Status.Audiences?.Contains(_options.Audience) != true)
        {
            LogUnauthenticated(_logger, review.Status?.Error ?? "not authenticated");
            return null;
        }

        // Reused until the token's own expiry (read from the token the API server has just vouched for), at most ReviewCacheTtl.
        var now = _time.GetUtcNow();
        var until = now + _options.ReviewCacheTtl;
        if (ExpiryOf(token) is { } expires && expires < until)
            until = expires;
        Prune(_tokens, now);
        _tokens[key] = (until, review.Status.User);
        return review.Status.User;
    }

    private static DateTimeOffset? ExpiryOf(string token)
    {
        var parts = token.Split('.');
        if (parts.Length != 3)
            return null;
        try
        {
            using var json = JsonDocument.Parse(KeyRotator.Core.Jose.Base64Url.Decode(parts[1]));
            return json.RootElement.TryGetProperty("exp", out var exp) && exp.TryGetInt64(out var seconds)
                ? DateTimeOffset.FromUnixTimeSeconds(seconds)
                : null;
        }
        catch (Exception e) when (e is FormatException or JsonException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    private async Task<bool> AuthorizeAsync(V1UserInfo user, string ns, string name, CancellationToken cancellationToken)
    {
        var key = $"{user.Username}\n{ns}\n{name}";
        var now = _time.GetUtcNow();
        if (_decisions.TryGetValue(key, out var cached) && cached.Until > now)
            return cached.Allowed;

        var review = await InTurnAsync(ct => _kubernetes.AuthorizationV1.CreateSubjectAccessReviewAsync(Access(user, ns, name), cancellationToken: ct), cancellationToken);
        var allowed = review.Status?.Allowed == true;
        Prune(_decisions, now);
        _decisions[key] = (now + (allowed ? _options.AllowedCacheTtl : _options.DeniedCacheTtl), allowed);
        return allowed;
    }

    /// <summary>
    /// A review sent in its turn (at most MaxConcurrentReviews at once) and bound by ReviewTimeout, the
    /// wait for the turn included; the turn is handed back however the review ends.
    /// </summary>
    private async Task<T> InTurnAsync<T>(Func<CancellationToken, Task<T>> review, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(_options.ReviewTimeout, _time);
        using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        await _reviews.WaitAsync(either.Token);
        try
        {
            return await review(either.Token);
        }
        finally
        {
            _reviews.Release();
        }
    }

    private static V1SubjectAccessReview Access(V1UserInfo user, string ns, string name) => new()
    {
        Spec = new V1SubjectAccessReviewSpec
        {
            User = user.Username,
            Uid = user.Uid,
            Groups = user.Groups,
            Extra = user.Extra,
            ResourceAttributes = new V1ResourceAttributes
            {
                NamespaceProperty = ns,
                Verb = "create",
                Group = V1Alpha1SigningKeySet.Group,
                Resource = V1Alpha1SigningKeySet.Plural,
                Subresource = "signaturefailures",
                Name = name,
            },
        },
    };

    private static void Prune<T>(ConcurrentDictionary<string, (DateTimeOffset Until, T Value)> cache, DateTimeOffset now)
    {
        if (cache.Count < 10_000)
            return;
        foreach (var (key, entry) in cache)
        {
            if (entry.Until <= now)
                cache.TryRemove(key, out _);
        }
    }

    /// <summary>The API server failed a review or did not answer it in time (the caller going away is not that).</summary>
    private static bool IsReviewFailure(Exception e, CancellationToken request) =>
        e is HttpOperationException or HttpRequestException || (e is OperationCanceledException && !request.IsCancellationRequested);

    /// <summary>503 with Retry-After: the report may be fine, its credentials could not be checked now. Never names the token.</summary>
    private IResult ReviewUnavailable(HttpContext context, string review, Exception e)
    {
        var why = e switch
        {
            HttpOperationException failed => $"the API server answered {(int)failed.Response.StatusCode}",
            OperationCanceledException => $"the API server did not answer within {_options.ReviewTimeout.TotalSeconds:0.#} s",
            _ => "the API server could not be reached",
        };
        LogReviewFailed(_logger, review, why);
        context.Response.Headers.RetryAfter = "5";
        return Error(StatusCodes.Status503ServiceUnavailable, $"the operator could not check this report's credentials ({review}: {why}); send it again later");
    }

    private static IResult Unauthorized(string message) =>
        Results.Json(new { error = message }, statusCode: StatusCodes.Status401Unauthorized);

    private static IResult Error(int status, string message) => Results.Json(new { error = message }, statusCode: status);

    public void Dispose()
    {
        _perCaller.Dispose();
        _reviews.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not check a failure report's credentials with a {Review}: {Reason}; answered 503")]
    private static partial void LogReviewFailed(ILogger logger, string review, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Refused a failure report: {Reason}")]
    private static partial void LogUnauthenticated(ILogger logger, string reason);

    /// <summary>
    /// A report: failure counts since the last one (may be empty), and, as a heartbeat, who the caller
    /// is (instance, usually the pod name) and what it holds (a verifier's JWKS content hash, a signer's kid).
    /// </summary>
    private sealed record Report(List<Entry>? Failures, string? Instance = null, string? JwksHash = null, string? SigningKid = null);

    private sealed record Entry(string? Reason, string? Kid, long Count);
}
