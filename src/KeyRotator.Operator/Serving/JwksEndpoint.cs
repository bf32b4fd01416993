using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Resources;
using KeyRotator.Model.Time;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Observability;
using KeyRotator.Operator.Publishing;
using KeyRotator.Operator.Runtime;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace KeyRotator.Operator.Serving;

/// <summary>
/// Serves each set's JWKS (and, when spec.jwks.issuer is set, its OpenID discovery document) over HTTP,
/// from the informer cache: every replica answers, and no request costs an API call. Responses carry a
/// strong ETag (the content hash of the document served, computed by the operator as verifiers compute it), answer If-None-Match with 304, and are
/// cacheable for <see cref="MaxAge"/>: at most a quarter of prePublish and at most 5 minutes, jittered
/// down by up to a fifth per response so that consumers do not refetch in step.
/// </summary>
public sealed class JwksEndpoint(ISigningKeySets controller, JwksObservations observations, OperatorMetrics metrics, TimeProvider time)
{
    /// <summary>Content hashes of the documents the informer holds, by the document's string: freed with it.</summary>
    private readonly ConditionalWeakTable<string, string> _hashes = new();

    /// <summary>No JWKS is cached longer than this, whatever prePublish allows: it bounds how long a revoked key stays trusted.</summary>
    public static readonly TimeSpan MaxAgeCeiling = CachePolicy.MaxAgeCeiling;

    /// <summary>
    /// The header an authenticated JWKS client may send to be counted as one verifier per pod (its pod name)
    /// when its token is bound to no pod; a pod-bound token's pod wins over it.
    /// </summary>
    public const string InstanceHeader = "X-KeyRotator-Instance";

    public const string JwksPath = "/v1/namespaces/{ns}/signingkeysets/{name}/jwks.json";
    public const string DiscoveryPath = "/v1/namespaces/{ns}/signingkeysets/{name}/.well-known/openid-configuration";

    /// <summary>The longest max-age the policy allows: prePublish / 4, at most 5 minutes, at least 1 second.</summary>
    public static TimeSpan MaxAge(TimeSpan prePublish) => CachePolicy.MaxAge(prePublish);

    public IResult Jwks(HttpContext context, string ns, string name) =>
        Serve(context, ns, name, "jwks", configMap => configMap.Data[JwksPublisher.JwksKey]);

    /// <summary>
    /// The ConfigMap's openid-configuration, byte for byte: issuer and jwks_uri come from the spec, never
    /// from the request (a Host header that named the jwks_uri would poison every shared cache in front).
    /// </summary>
    public IResult Discovery(HttpContext context, string ns, string name) =>
        Serve(context, ns, name, "discovery", configMap => configMap.Data.TryGetValue(JwksPublisher.OpenIdConfigurationKey, out var document) ? document : null);

    private IResult Serve(HttpContext context, string ns, string name, string document, Func<V1ConfigMap, string?> body)
    {
        if (!controller.CachesSynced)
        {
            context.Response.Headers.RetryAfter = "1";
            return Count(document, Results.Text("the operator is starting; its cache is not filled yet\n", statusCode: StatusCodes.Status503ServiceUnavailable));
        }

        var set = controller.CachedSet(ns, name);
        if (set is null)
            return Count(document, Results.Text($"no SigningKeySet {ns}/{name} is watched by this operator\n", statusCode: StatusCodes.Status404NotFound));
        var configMap = controller.CachedConfigMap(ns, JwksPublisher.ConfigMapName(set));
        if (configMap is null || !Ownership.IsOwnedBy(configMap.Metadata, SetIdentity.Of(set))
            || configMap.Data?.TryGetValue(JwksPublisher.JwksKey, out var json) != true || json is null)
            return Count(document, Results.Text($"SigningKeySet {ns}/{name} has not published a JWKS yet\n", statusCode: StatusCodes.Status404NotFound));

        var content = body(configMap);
        if (content is null)
            return Count(document, Results.Text($"SigningKeySet {ns}/{name} has no spec.jwks.issuer (or has not published its discovery document yet), so there is no discovery document\n", statusCode: StatusCodes.Status404NotFound));

        // The hash of the bytes served, computed here (once per document the informer holds): the ETag and
        // what a verifier reports holding agree by construction, and no annotation anyone can write says otherwise.
        var hash = _hashes.GetValue(content, JwksDocument.ContentHashOf);
        var etag = new EntityTagHeaderValue($"\"{hash}\"");
        var headers = context.Response.GetTypedHeaders();
        headers.ETag = etag;
        headers.CacheControl = new CacheControlHeaderValue { Public = true, MaxAge = Jittered(CachePolicy.MaxAge(set.Spec.Rotation, set.Status?.Keys, time.GetUtcNow())) };
        if (document == "jwks")
            observations.Observe(context, ns, name, hash);
        if (context.Request.GetTypedHeaders().IfNoneMatch is { Count: > 0 } match && match.Any(m => m.Tag == etag.Tag || m.Tag == "*"))
            return Count(document, Results.StatusCode(StatusCodes.Status304NotModified));
        return Count(document, Results.Text(content, "application/json", Encoding.UTF8));
    }

    private IResult Count(string document, IResult result)
    {
        var code = result is IStatusCodeHttpResult { StatusCode: { } status } ? status : StatusCodes.Status200OK;
        metrics.JwksRequests.WithLabels(document, code.ToString(CultureInfo.InvariantCulture)).Inc();
        return result;
    }

    /// <summary>A whole number of seconds in [0.8, 1] × the allowed max-age (never above it, never below 1 s).</summary>
    private static TimeSpan Jittered(TimeSpan maxAge)
    {
        var allowed = (int)maxAge.TotalSeconds;
        var seconds = allowed - Random.Shared.Next(0, (allowed / 5) + 1);
        return TimeSpan.FromSeconds(Math.Max(1, seconds));
    }
}
