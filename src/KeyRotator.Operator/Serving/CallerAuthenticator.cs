using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using k8s;
using k8s.Autorest;
using k8s.Models;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.Serving;

/// <summary>
/// Who is calling, for every request that may change what the operator holds (failure reports,
/// heartbeats, JWKS fetches counted as observations) or read what it knows about the sets (/metrics):
/// a service-account token, checked
/// locally first (<see cref="ServiceAccountTokenCheck"/>), then by a TokenReview that is cached until the
/// token expires, and authorized per set by a cached SubjectAccessReview. Reviews not cached share
/// budgets divided per namespace under a global ceiling (<see cref="ReviewBudget"/>; KeyRotator:Reports:
/// TokenReviewsPerSecond and …PerNamespace, SubjectAccessReviewsPerSecond and …PerNamespace), so that no
/// flood of tokens, however well-formed, costs the API server more than that, and no namespace's flood
/// spends another namespace's share. A token's namespace is read from its claims only once its signature
/// has verified against the issuer keys; tokens that could not be verified share one namespace of their own.
/// </summary>
public sealed partial class CallerAuthenticator : IDisposable
{
    private readonly IKubernetes _kubernetes;
    private readonly ClusterIssuerKeys _issuerKeys;
    private readonly TimeProvider _time;
    private readonly ReportOptions _options;
    private readonly ILogger<CallerAuthenticator> _logger;
    private readonly ReviewBudget _budget;
    private readonly ReviewBudget _accessBudget;

    /// <summary>The budget namespace of tokens whose signature could not be verified locally (the issuer keys unreadable).</summary>
    private const string Unverified = "(unverified)";

    /// <summary>The budget namespace of callers that are not service accounts.</summary>
    private const string NotAServiceAccount = "(users)";
    private readonly ConcurrentDictionary<string, (DateTimeOffset Until, V1UserInfo User)> _tokens = new();
    private readonly ConcurrentDictionary<string, (DateTimeOffset Until, bool Allowed)> _decisions = new();
    private readonly ConcurrentDictionary<string, Lazy<Task<V1UserInfo?>>> _reviewing = new();
    private readonly ConcurrentDictionary<string, Lazy<Task<(bool?, string?)>>> _authorizing = new();
    private readonly SemaphoreSlim _reviews;

    public CallerAuthenticator(IKubernetes kubernetes, ClusterIssuerKeys issuerKeys, TimeProvider time, IOptions<OperatorOptions> options, ILogger<CallerAuthenticator> logger)
    {
        _kubernetes = kubernetes;
        _issuerKeys = issuerKeys;
        _time = time;
        _options = options.Value.Reports;
        _logger = logger;
        _reviews = new SemaphoreSlim(Math.Max(1, _options.MaxConcurrentReviews));
        _budget = new ReviewBudget(_options.TokenReviewsPerSecond, _options.TokenReviewBurst, _options.TokenReviewsPerSecondPerNamespace, _options.TokenReviewBurstPerNamespace);
        _accessBudget = new ReviewBudget(_options.SubjectAccessReviewsPerSecond, _options.SubjectAccessReviewBurst,
            _options.SubjectAccessReviewsPerSecondPerNamespace, _options.SubjectAccessReviewBurstPerNamespace);
    }

    /// <summary>The caller a bearer token for the report audience stands for; never throws for the token's sake.</summary>
    public Task<CallerResult> AuthenticateAsync(string token, CancellationToken cancellationToken) =>
        AuthenticateAsync(token, _options.Audience, cancellationToken);

    /// <summary>
    /// The caller a bearer token bound to <paramref name="audience"/> stands for, or, with a null audience,
    /// one the API server accepts for its own audiences (a pod's default token, as Prometheus scrapes with);
    /// never throws for the token's sake.
    /// </summary>
    public async Task<CallerResult> AuthenticateAsync(string token, string? audience, CancellationToken cancellationToken)
    {
        var key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{audience}\n{token}")));
        var bound = audience is null ? "the API server's audiences" : $"audience {audience}";
        var now = _time.GetUtcNow();
        if (_tokens.TryGetValue(key, out var cached) && cached.Until > now)
            return new CallerResult.Known(cached.User);

        var (parsed, malformed) = ServiceAccountTokenCheck.Parse(token);
        var keys = parsed is null ? null : await _issuerKeys.ForAsync(parsed.Kid, cancellationToken);
        if ((malformed ?? ServiceAccountTokenCheck.Problem(parsed!, audience, now, keys)) is { } problem)
            return new CallerResult.Refused($"the token is not a valid service-account token for {bound}: {problem}");

        // Concurrent requests with one token share one TokenReview, and one share of the budget: its namespace's.
        var ns = keys is null ? Unverified : parsed!.Namespace ?? NotAServiceAccount;
        var review = _reviewing.GetOrAdd(key, _ => new Lazy<Task<V1UserInfo?>>(() => ReviewAsync(key, token, audience, parsed!.Expires, ns)));
        try
        {
            var user = await review.Value.WaitAsync(cancellationToken);
            return user is null
                ? new CallerResult.Refused($"the token is not a valid service-account token for {bound}")
                : new CallerResult.Known(user);
        }
        catch (BudgetSpentException)
        {
            return new CallerResult.Unavailable($"the operator's TokenReview budget for tokens it has not seen ({_budget.PerSecondPerNamespace} per second per namespace, after a burst of {_budget.BurstPerNamespace}, within {_budget.PerSecond} per second in all) is spent", 1);
        }
        catch (Exception e) when (IsReviewFailure(e, cancellationToken))
        {
            return new CallerResult.Unavailable(Unavailable("TokenReview", e), 5);
        }
        finally
        {
            if (review.Value.IsCompleted)
                _reviewing.TryRemove(new KeyValuePair<string, Lazy<Task<V1UserInfo?>>>(key, review));
        }
    }

    /// <summary>Whether <paramref name="user"/> may "create signingkeysets/signaturefailures" on the set; null with a reason when that cannot be checked now.</summary>
    public Task<(bool? Allowed, string? Unavailable)> AuthorizeAsync(V1UserInfo user, string ns, string name, CancellationToken cancellationToken) =>
        AuthorizeAsync(user, $"{ns}\n{name}", new V1ResourceAttributes
        {
            NamespaceProperty = ns,
            Verb = "create",
            Group = V1Alpha1SigningKeySet.Group,
            Resource = V1Alpha1SigningKeySet.Plural,
            Subresource = "signaturefailures",
            Name = name,
        }, null, cancellationToken);

    /// <summary>Whether <paramref name="user"/> may <c>get</c> the non-resource URL <paramref name="path"/> (/metrics); null with a reason when that cannot be checked now.</summary>
    public Task<(bool? Allowed, string? Unavailable)> AuthorizeGetAsync(V1UserInfo user, string path, CancellationToken cancellationToken) =>
        AuthorizeAsync(user, $"get {path}", null, new V1NonResourceAttributes { Path = path, Verb = "get" }, cancellationToken);

    private async Task<(bool? Allowed, string? Unavailable)> AuthorizeAsync(
        V1UserInfo user, string what, V1ResourceAttributes? resource, V1NonResourceAttributes? nonResource, CancellationToken cancellationToken)
    {
        var key = $"{user.Username}\n{what}";
        var now = _time.GetUtcNow();
        if (_decisions.TryGetValue(key, out var cached) && cached.Until > now)
            return (cached.Allowed, null);

        // Concurrent requests of one caller for one permission share one SubjectAccessReview: a burst costs
        // one review, and the requests after it none (the decision is cached), whatever their number.
        var review = _authorizing.GetOrAdd(key, _ => new Lazy<Task<(bool?, string?)>>(() => ReviewAccessAsync(key, user, resource, nonResource)));
        try
        {
            return await review.Value.WaitAsync(cancellationToken);
        }
        finally
        {
            if (review.Value.IsCompleted)
                _authorizing.TryRemove(new KeyValuePair<string, Lazy<Task<(bool?, string?)>>>(key, review));
        }
    }

    private async Task<(bool? Allowed, string? Unavailable)> ReviewAccessAsync(string key, V1UserInfo user, V1ResourceAttributes? resource, V1NonResourceAttributes? nonResource)
    {
        if (!_accessBudget.TrySpend(NamespaceOf(user.Username)))
            return (null, $"the operator's SubjectAccessReview budget ({_accessBudget.PerSecondPerNamespace} per second per namespace, within {_accessBudget.PerSecond} per second in all) is spent");
        try
        {
            // Shared by every request that asks this, so bound by time rather than by one caller.
            var access = Access(user, resource, nonResource);
            var review = await InTurnAsync(ct => _kubernetes.AuthorizationV1.CreateSubjectAccessReviewAsync(access, cancellationToken: ct), CancellationToken.None);
            var allowed = review.Status?.Allowed == true;
            var now = _time.GetUtcNow();
            Prune(_decisions, now);
            _decisions[key] = (now + (allowed ? _options.AllowedCacheTtl : _options.DeniedCacheTtl), allowed);
            return (allowed, null);
        }
        catch (Exception e) when (IsReviewFailure(e, CancellationToken.None))
        {
            return (null, Unavailable("SubjectAccessReview", e));
        }
    }

    private async Task<V1UserInfo?> ReviewAsync(string key, string token, string? audience, DateTimeOffset? expires, string ns)
    {
        if (!_budget.TrySpend(ns))
            throw new BudgetSpentException();

        // Shared by every request that carries this token, so bound by time rather than by one caller.
        var review = await InTurnAsync(ct => _kubernetes.AuthenticationV1.CreateTokenReviewAsync(new V1TokenReview
        {
            Spec = new V1TokenReviewSpec { Token = token, Audiences = audience is null ? null : [audience] },
        }, cancellationToken: ct), CancellationToken.None);
        if (review.Status?.Authenticated != true || (audience is not null && review.Status.Audiences?.Contains(audience) != true))
        {
            LogUnauthenticated(_logger, review.Status?.Error ?? "not authenticated");
            return null;
        }

        // Reused until the token's own expiry (read from the token the API server has just vouched for), at most ReviewCacheTtl.
        var now = _time.GetUtcNow();
        var until = now + _options.ReviewCacheTtl;
        if (expires < until)
            until = expires.Value;
        Prune(_tokens, now);
        _tokens[key] = (until, review.Status.User);
        return review.Status.User;
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

    private static V1SubjectAccessReview Access(V1UserInfo user, V1ResourceAttributes? resource, V1NonResourceAttributes? nonResource) => new()
    {
        Spec = new V1SubjectAccessReviewSpec
        {
            User = user.Username,
            Uid = user.Uid,
            Groups = user.Groups,
            Extra = user.Extra,
            ResourceAttributes = resource,
            NonResourceAttributes = nonResource,
        },
    };

    /// <summary>The namespace of a service account's username (system:serviceaccount:NS:NAME), as the API server vouched for it.</summary>
    private static string NamespaceOf(string? username) =>
        username?.Split(':') is ["system", "serviceaccount", var ns, _] ? ns : NotAServiceAccount;

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

    /// <summary>Why a review could not be made, never naming the token; logged at most once a minute.</summary>
    private string Unavailable(string review, Exception e)
    {
        var why = e switch
        {
            HttpOperationException failed => $"the API server answered {(int)failed.Response.StatusCode}",
            OperationCanceledException => $"the API server did not answer within {_options.ReviewTimeout.TotalSeconds:0.#} s",
            _ => "the API server could not be reached",
        };
        var now = _time.GetUtcNow();
        var last = Interlocked.Read(ref _lastReviewFailureLog);
        if (now.UtcTicks - last > TimeSpan.TicksPerMinute && Interlocked.CompareExchange(ref _lastReviewFailureLog, now.UtcTicks, last) == last)
            LogReviewFailed(_logger, review, why);
        return $"the operator could not check this caller's credentials ({review}: {why})";
    }

    private long _lastReviewFailureLog;

    public void Dispose()
    {
        _budget.Dispose();
        _accessBudget.Dispose();
        _reviews.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not check a caller's credentials with a {Review}: {Reason}; answering 503 (logged at most once a minute)")]
    private static partial void LogReviewFailed(ILogger logger, string review, string reason);

    // Debug: a refused token is the caller's problem, and anyone can send one; a line per request would let them fill the log.
    [LoggerMessage(Level = LogLevel.Debug, Message = "TokenReview refused a caller's token: {Reason}")]
    private static partial void LogUnauthenticated(ILogger logger, string reason);

    private sealed class BudgetSpentException : Exception;
}
