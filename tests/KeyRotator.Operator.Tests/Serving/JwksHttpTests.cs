using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using k8s;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Publishing;
using KeyRotator.Operator.Serving;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace KeyRotator.Operator.Tests.Serving;

/// <summary>The JWKS and discovery document over HTTP, as Envoy, Istio, gateways and .NET's ConfigurationManager fetch them.</summary>
public sealed class JwksHttpTests(KubernetesEnvironment env)
{
    private const string Issuer = "https://auth.example.com";
    private const string Audience = "payments";

    [Fact]
    public async Task Each_set_is_served_from_the_cache_with_a_strong_ETag_a_304_for_a_current_copy_and_a_max_age_under_a_quarter_of_prePublish()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("jwks-http", ct);
        var scenario = new OperatorScenario(env, ns);
        // Every request but Lease renewals.
        var requests = new RequestCounter(r => r.RequestUri?.AbsolutePath.Contains("/leases/", StringComparison.Ordinal) != true);
        await using var op = await OperatorInstance.StartAsync(env, [ns], handlers: [requests]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "20s" })
            .WithSpec(s => s with { Jwks = new KeyRotator.Model.Resources.JwksSpec { Issuer = Issuer } })
            .Build(), ct);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("plain", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "20s" }).Build(), ct);
        await scenario.WaitForActiveKeyAsync("auth");
        await scenario.WaitForActiveKeyAsync("plain");
        using var http = new HttpClient { BaseAddress = op.BaseAddress };
        var jwksPath = $"/v1/namespaces/{ns}/signingkeysets/auth/jwks.json";
        var configMap = await env.Admin.CoreV1.ReadNamespacedConfigMapAsync("auth-jwks", ns, cancellationToken: ct);

        using var first = await http.GetAsync(jwksPath, ct);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal("application/json", first.Content.Headers.ContentType!.MediaType);
        Assert.Equal(configMap.Data[JwksPublisher.JwksKey], await first.Content.ReadAsStringAsync(ct));
        Assert.Equal($"\"{configMap.Metadata.Annotations[Labels.ContentHashAnnotation]}\"", first.Headers.ETag!.Tag);
        Assert.False(first.Headers.ETag.IsWeak);
        Assert.True(first.Headers.CacheControl!.Public);
        Assert.False(first.Headers.CacheControl.NoStore);
        Assert.InRange(first.Headers.CacheControl.MaxAge!.Value, TimeSpan.FromSeconds(4), JwksEndpoint.MaxAge(TimeSpan.FromSeconds(20)));

        // A client whose copy is current gets a 304 and no body; many requests cost the API server nothing
        // (the operator's only requests meanwhile would be Lease renewals). An anonymous fetch is no observation.
        await Eventually.HoldsAsync(async () =>
        {
            var count = requests.Count;
            await Task.Delay(TimeSpan.FromSeconds(2), ct);
            return requests.Count == count;
        }, quiet => quiet, TimeSpan.FromSeconds(30), "the operator idle", ct);
        var before = requests.Count;
        for (var i = 0; i < 50; i++)
        {
            using var conditional = new HttpRequestMessage(HttpMethod.Get, jwksPath);
            conditional.Headers.IfNoneMatch.Add(first.Headers.ETag);
            using var notModified = await http.SendAsync(conditional, ct);
            Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
            Assert.Empty(await notModified.Content.ReadAsByteArrayAsync(ct));
            Assert.Equal(first.Headers.ETag, notModified.Headers.ETag);
        }

        Assert.Equal(before, requests.Count);
        Assert.Null((await scenario.GetAsync("auth")).Status!.Propagation);

        // Discovery: the issuer, and the jwks_uri the spec implies; the ConfigMap's document byte for byte.
        var discoveryText = await http.GetStringAsync($"/v1/namespaces/{ns}/signingkeysets/auth/.well-known/openid-configuration", ct);
        Assert.Equal(configMap.Data[JwksPublisher.OpenIdConfigurationKey], discoveryText);
        using var discovery = JsonDocument.Parse(discoveryText);
        Assert.Equal(Issuer, discovery.RootElement.GetProperty("issuer").GetString());
        Assert.Equal($"{Issuer}/.well-known/jwks.json", discovery.RootElement.GetProperty("jwks_uri").GetString());
        Assert.Equal("ES256", discovery.RootElement.GetProperty("id_token_signing_alg_values_supported")[0].GetString());
        // Every member OpenID Connect Discovery requires, but authorization_endpoint (not a provider; as Kubernetes' own issuer discovery).
        Assert.Equal("id_token", Assert.Single(discovery.RootElement.GetProperty("response_types_supported").EnumerateArray()).GetString());
        Assert.Equal("public", Assert.Single(discovery.RootElement.GetProperty("subject_types_supported").EnumerateArray()).GetString());

        using var noIssuer = await http.GetAsync($"/v1/namespaces/{ns}/signingkeysets/plain/.well-known/openid-configuration", ct);
        Assert.Equal(HttpStatusCode.NotFound, noIssuer.StatusCode);
        Assert.Contains("no spec.jwks.issuer", await noIssuer.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
        using var unknown = await http.GetAsync($"/v1/namespaces/{ns}/signingkeysets/nope/jwks.json", ct);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Contains($"no SigningKeySet {ns}/nope", await unknown.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_ConfigurationManager_consumer_honouring_the_cache_headers_validates_every_token_across_three_rotations()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("jwks-http-rotate", ct);
        var scenario = new OperatorScenario(env, ns);
        // The built operator in its own process; the consumer fetches over HTTP as a service would.
        await using var op = await OperatorProcess.StartServingAsync(env, "operator-jwks-http", [ns]);
        var prePublish = TimeSpan.FromSeconds(8);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "12s", PrePublish = "8s", Overlap = "6s" })
            .WithSpec(s => s with { MaxTokenLifetime = "3s", ClockSkew = "1s", Jwks = new KeyRotator.Model.Resources.JwksSpec { Issuer = Issuer, JwksUri = $"{Issuer}/v1/namespaces/{ns}/signingkeysets/auth/jwks.json" } })
            .Build(), ct);
        var first = await scenario.WaitForActiveKeyAsync("auth");

        // The issuer's host is routed to the operator, as an ingress in front of it would.
        using var http = new HttpClient(new RouteTo(op.BaseAddress!, new HttpClientHandler()));
        var retriever = new HttpCachingRetriever(http);
        var manager = new ConfigurationManager<OpenIdConnectConfiguration>(
            $"{Issuer}/v1/namespaces/{ns}/signingkeysets/auth/.well-known/openid-configuration",
            new OpenIdConnectConfigurationRetriever(), retriever)
        { RefreshInterval = TimeSpan.FromSeconds(1) };

        var (activeKids, failures, validated) = await ConfigurationManagerRun.AcrossThreeRotationsAsync(scenario, first.Status!.ActiveKeyId!, manager, retriever, Issuer, Audience, ct);

        Assert.True(activeKids.Count >= 4, $"three rotations did not happen in time: {string.Join(", ", activeKids)}");
        Assert.True(failures.Count == 0, $"{failures.Count} of {validated} validations failed:\n{string.Join('\n', failures.Take(10))}");
        Assert.True(retriever.NotModified > 0, $"no 304 in {retriever.Fetches} fetches");
        Assert.Empty(retriever.Problems);
        Assert.All(retriever.MaxAges, m => Assert.InRange(m, TimeSpan.FromSeconds(1), JwksEndpoint.MaxAge(prePublish)));
    }

    [Fact]
    public async Task A_forged_Host_header_changes_nothing_in_the_discovery_document_a_shared_cache_would_keep()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("jwks-host", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorProcess.StartServingAsync(env, "operator-jwks-host", [ns]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { Jwks = new KeyRotator.Model.Resources.JwksSpec { Issuer = Issuer, JwksUri = "https://keys.example.com/auth/jwks.json" } })
            .Build(), ct);
        await scenario.WaitForActiveKeyAsync("auth");
        var path = $"/v1/namespaces/{ns}/signingkeysets/auth/.well-known/openid-configuration";
        using var http = new HttpClient { BaseAddress = op.BaseAddress };

        async Task<(string Body, CacheControlHeaderValue? CacheControl)> FetchAsync(string? host, string? forwardedHost)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            if (host is not null)
                request.Headers.Host = host;
            if (forwardedHost is not null)
            {
                request.Headers.Add("X-Forwarded-Host", forwardedHost);
                request.Headers.Add("X-Forwarded-Proto", "http");
            }

            using var response = await http.SendAsync(request, ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return (await response.Content.ReadAsStringAsync(ct), response.Headers.CacheControl);
        }

        var honest = await FetchAsync(null, null);
        var forged = await FetchAsync("attacker.example", null);
        var forwarded = await FetchAsync(null, "attacker.example");
        Assert.Equal(honest.Body, forged.Body);
        Assert.Equal(honest.Body, forwarded.Body);
        Assert.DoesNotContain("attacker", forged.Body, StringComparison.Ordinal);
        using var document = JsonDocument.Parse(forged.Body);
        Assert.Equal(Issuer, document.RootElement.GetProperty("issuer").GetString());
        Assert.Equal("https://keys.example.com/auth/jwks.json", document.RootElement.GetProperty("jwks_uri").GetString());
        Assert.True(forged.CacheControl?.Public);

        // An issuer that OpenID Connect Discovery forbids is refused: by the API server (the CRD's pattern)
        // when it has a query or fragment, by the operator (a condition that says what to change) otherwise.
        var refused = await Assert.ThrowsAsync<k8s.Autorest.HttpOperationException>(() => scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("query-issuer", ns)
            .WithSpec(s => s with { Jwks = new KeyRotator.Model.Resources.JwksSpec { Issuer = "https://auth.example.com/?tenant=a" } })
            .Build(), ct));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.Response.StatusCode);
        Assert.Contains("spec.jwks.issuer", refused.Response.Content, StringComparison.Ordinal);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("bad-issuer", ns)
            .WithSpec(s => s with { Jwks = new KeyRotator.Model.Resources.JwksSpec { Issuer = "https://evil@auth.example.com" } })
            .Build(), ct);
        var held = await scenario.WaitForReadyReasonAsync("bad-issuer", "InvalidSpec");
        Assert.Contains("spec.jwks.issuer \"https://evil@auth.example.com\" must be an https URL with no query, fragment or user name", ConditionMessage(held), StringComparison.Ordinal);
    }

    private static string ConditionMessage(KeyRotator.Model.Resources.V1Alpha1SigningKeySet set) =>
        set.Status?.Conditions?.FirstOrDefault(c => c.Type == "Ready")?.Message ?? "";

    /// <summary>Sends every request to the operator, keeping the URL's host as the Host header (what an ingress in front of it receives).</summary>
    private sealed class RouteTo(Uri target, HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            request.Headers.Host = request.RequestUri!.Host;
            request.RequestUri = new UriBuilder(request.RequestUri) { Scheme = target.Scheme, Host = target.Host, Port = target.Port }.Uri;
            return base.SendAsync(request, cancellationToken);
        }
    }

    /// <summary>
    /// What a well-behaved HTTP cache does for ConfigurationManager: keep each document for its max-age,
    /// then revalidate with If-None-Match and keep the body on 304. A 304 updates the stored response's
    /// headers with those it carries and keeps the rest (RFC 9111 §4.3.4): Azure Storage answers 304 without
    /// Cache-Control, so the stored max-age applies again.
    /// </summary>
    internal sealed class HttpCachingRetriever(HttpClient http) : IDocumentRetriever
    {
        private readonly ConcurrentDictionary<string, (string Body, EntityTagHeaderValue ETag, TimeSpan MaxAge, DateTimeOffset Expires)> _cache = new();

        public int Fetches { get; private set; }

        public int NotModified { get; private set; }

        public ConcurrentQueue<TimeSpan> MaxAges { get; } = new();

        public ConcurrentQueue<string> Problems { get; } = new();

        public bool Stale => _cache.IsEmpty || _cache.Values.Any(e => e.Expires <= DateTimeOffset.UtcNow);

        public async Task<string> GetDocumentAsync(string address, CancellationToken cancel)
        {
            if (_cache.TryGetValue(address, out var cached) && cached.Expires > DateTimeOffset.UtcNow)
                return cached.Body;
            using var request = new HttpRequestMessage(HttpMethod.Get, address);
            if (cached.ETag is not null)
                request.Headers.IfNoneMatch.Add(cached.ETag);
            using var response = await http.SendAsync(request, cancel);
            Fetches++;
            if (response.StatusCode == HttpStatusCode.NotModified && cached.Body is not null)
            {
                NotModified++;
                var renewed = response.Headers.CacheControl is { MaxAge: { } fresh } ? fresh : cached.MaxAge;
                MaxAges.Enqueue(renewed);
                _cache[address] = cached with { MaxAge = renewed, Expires = DateTimeOffset.UtcNow + renewed };
                return cached.Body;
            }

            if (response.Headers.CacheControl is not { Public: true, NoStore: false, MaxAge: { } maxAge })
            {
                Problems.Enqueue($"{address}: Cache-Control {response.Headers.CacheControl}");
                maxAge = TimeSpan.Zero;
            }

            MaxAges.Enqueue(maxAge);
            response.EnsureSuccessStatusCode();
            var body = await response.Content.ReadAsStringAsync(cancel);
            if (response.Headers.ETag is not { IsWeak: false } etag)
            {
                Problems.Enqueue($"{address}: no strong ETag");
                etag = new EntityTagHeaderValue("\"none\"");
            }

            _cache[address] = (body, etag, maxAge, DateTimeOffset.UtcNow + maxAge);
            return body;
        }
    }
}
