using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using KeyRotator.Core.Jose;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Core.Time;
using KeyRotator.Operator.Controllers;
using KeyRotator.Operator.Entities;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Observability;
using KeyRotator.Operator.Publishing;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace KeyRotator.Operator.Serving;

/// <summary>
/// Serves each set's JWKS (and, when spec.jwks.issuer is set, its OpenID discovery document) over HTTP,
/// from the informer cache: every replica answers, and no request costs an API call. Responses carry a
/// strong ETag (the JWKS content hash the ConfigMap records), answer If-None-Match with 304, and are
/// cacheable for <see cref="MaxAge"/>: at most a quarter of prePublish and at most 5 minutes, jittered
/// down by up to a fifth per response so that consumers do not refetch in step.
/// </summary>
public sealed class JwksEndpoint(SigningKeySetController controller, PropagationTracker propagation, OperatorMetrics metrics)
{
    /// <summary>No JWKS is cached longer than this, whatever prePublish allows: it bounds how long a revoked key stays trusted.</summary>
    public static readonly TimeSpan MaxAgeCeiling = TimeSpan.FromMinutes(5);

    /// <summary>The header a JWKS client may send to be counted as one verifier (its pod name).</summary>
    public const string InstanceHeader = "X-KeyRotator-Instance";

    public const string JwksPath = "/v1/namespaces/{ns}/signingkeysets/{name}/jwks.json";
    public const string DiscoveryPath = "/v1/namespaces/{ns}/signingkeysets/{name}/.well-known/openid-configuration";

    /// <summary>The longest max-age the policy allows: prePublish / 4, at most 5 minutes, at least 1 second.</summary>
    public static TimeSpan MaxAge(TimeSpan prePublish)
    {
        var quarter = prePublish / 4;
        return quarter > MaxAgeCeiling ? MaxAgeCeiling : quarter < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : quarter;
    }

    public IResult Jwks(HttpContext context, string ns, string name) =>
        Serve(context, ns, name, "jwks", (set, json) => json);

    public IResult Discovery(HttpContext context, string ns, string name) =>
        Serve(context, ns, name, "discovery", (set, json) => set.Spec.Jwks?.Issuer is { Length: > 0 } issuer
            ? DiscoveryDocument.Serialize(issuer, set.Spec.Algorithm, JwksUri(context.Request, ns, name))
            : null);

    private IResult Serve(HttpContext context, string ns, string name, string document, Func<V1Alpha1SigningKeySet, string, string?> body)
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

        var content = body(set, json);
        if (content is null)
            return Count(document, Results.Text($"SigningKeySet {ns}/{name} has no spec.jwks.issuer, so it publishes no discovery document\n", statusCode: StatusCodes.Status404NotFound));

        var hash = document == "jwks" && configMap.Metadata.Annotations?.TryGetValue(Labels.ContentHashAnnotation, out var recorded) == true
            ? recorded
            : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(content)))[..16];
        var etag = new EntityTagHeaderValue($"\"{hash}\"");
        var headers = context.Response.GetTypedHeaders();
        headers.ETag = etag;
        headers.CacheControl = new CacheControlHeaderValue { Public = true, MaxAge = Jittered(PrePublishOf(set)) };
        if (document == "jwks")
            Observe(context, set, hash);
        if (context.Request.GetTypedHeaders().IfNoneMatch is { Count: > 0 } match && match.Any(m => m.Tag == etag.Tag || m.Tag == "*"))
            return Count(document, Results.StatusCode(StatusCodes.Status304NotModified));
        return Count(document, Results.Text(content, "application/json", Encoding.UTF8));
    }

    /// <summary>
    /// A fetch is an observation: after it the client holds this JWKS. The client is named by the
    /// X-KeyRotator-Instance header when it sends one, else by its address.
    /// </summary>
    private void Observe(HttpContext context, V1Alpha1SigningKeySet set, string hash)
    {
        var instance = context.Request.Headers[InstanceHeader].ToString();
        var identity = instance is { Length: > 0 and <= 253 } ? $"http/{instance}" : $"http/{context.Connection.RemoteIpAddress}";
        if (propagation.ObserveVerifier(set.Metadata.NamespaceProperty, set.Metadata.Name, identity, hash))
            controller.Enqueue(new SetKey(set.Metadata.NamespaceProperty, set.Metadata.Name));
    }

    private IResult Count(string document, IResult result)
    {
        var code = result is IStatusCodeHttpResult { StatusCode: { } status } ? status : StatusCodes.Status200OK;
        metrics.JwksRequests.WithLabels(document, code.ToString(CultureInfo.InvariantCulture)).Inc();
        return result;
    }

    private static TimeSpan PrePublishOf(V1Alpha1SigningKeySet set) =>
        GoDuration.TryParse(set.Spec.Rotation?.PrePublish, out var prePublish) ? prePublish : SpecValidator.DefaultPrePublish;

    /// <summary>A whole number of seconds in [0.8, 1] × the allowed max-age (never above it, never below 1 s).</summary>
    private static TimeSpan Jittered(TimeSpan prePublish)
    {
        var allowed = (int)MaxAge(prePublish).TotalSeconds;
        var seconds = allowed - Random.Shared.Next(0, (allowed / 5) + 1);
        return TimeSpan.FromSeconds(Math.Max(1, seconds));
    }

    /// <summary>The JWKS URL as the client reached this operator (through the Service, a port-forward or an ingress).</summary>
    private static string JwksUri(HttpRequest request, string ns, string name) =>
        $"{request.Scheme}://{request.Host}{request.PathBase}/v1/namespaces/{Uri.EscapeDataString(ns)}/signingkeysets/{Uri.EscapeDataString(name)}/jwks.json";
}
