using System.Net;
using System.Net.Http.Headers;
using KeyRotator.Operator.Serving;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Observability;

/// <summary>
/// /metrics names every team's sets, so it answers only a caller the API server vouches for (TokenReview)
/// and allows to get /metrics (SubjectAccessReview on the non-resource URL), as kubebuilder-scaffolded
/// operators do; the public JWKS, discovery and health endpoints stay anonymous and name no set.
/// </summary>
public sealed class MetricsAuthenticationTests(KubernetesEnvironment env)
{
    [Fact]
    public async Task Another_team_reads_no_series_of_ours_anonymously_or_with_its_own_token_and_only_a_metrics_reader_does()
    {
        var ct = TestContext.Current.CancellationToken;
        var victim = await env.CreateNamespaceAsync("metrics-victim", ct);
        var attacker = await env.CreateNamespaceAsync("metrics-attacker", ct);
        await using var op = await OperatorInstance.StartAsync(env, [victim, attacker]);
        var scenario = new OperatorScenario(env, victim);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("payments", victim).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { Jwks = new KeyRotator.Model.Resources.JwksSpec { Issuer = "https://payments.example.com" } }).Build(), ct);
        await scenario.WaitForActiveKeyAsync("payments");
        using var http = new HttpClient { BaseAddress = op.BaseAddress };

        // The attacking team has what every team has: service accounts of its own (one allowed to report
        // in its namespace, as docs/consumers.md tells every team to grant), and tokens for them of any audience.
        var ownPod = await ServiceAccounts.ApiTokenAsync(env, attacker, "snoop");
        var reporter = await ServiceAccounts.TokenAsync(env, attacker, "verifier", "keyrotator", grantReporter: true);

        var anonymous = await GetAsync(http, "/metrics", null, ct);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.Status);
        Assert.Equal("Bearer", anonymous.Challenge);
        var junk = await GetAsync(http, "/metrics", "not-a-token", ct);
        Assert.Equal(HttpStatusCode.Unauthorized, junk.Status);
        var wrongAudience = await GetAsync(http, "/metrics", reporter, ct);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongAudience.Status);
        var forbidden = await GetAsync(http, "/metrics", ownPod, ct);
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.Status);
        Assert.Contains($"system:serviceaccount:{attacker}:snoop may not get /metrics", forbidden.Body, StringComparison.Ordinal);
        foreach (var refused in new[] { anonymous, junk, wrongAudience, forbidden })
        {
            Assert.DoesNotContain(victim, refused.Body, StringComparison.Ordinal);
            Assert.DoesNotContain("keyrotator_", refused.Body, StringComparison.Ordinal);
        }

        // Refused scrapes write nothing to the log: anyone could otherwise fill it at the rate they send them.
        Assert.DoesNotContain(op.Logs.Lines, l => l.Contains(nameof(ServiceAccountAuthenticationHandler), StringComparison.Ordinal));

        // Prometheus, as a service account bound to the metrics-reader ClusterRole, reads every set's series.
        var reader = await MetricsScrape.ReaderTokenAsync(env, ct);
        var series = $"keyrotator_signingkeyset_ready{{namespace=\"{victim}\",name=\"payments\"}} 1";
        var scrape = await Eventually.HoldsAsync(() => GetAsync(http, "/metrics", reader, ct), r => r.Status != HttpStatusCode.OK || r.Body.Contains(series, StringComparison.Ordinal),
            TimeSpan.FromSeconds(10), "the set's series", ct);
        Assert.Equal(HttpStatusCode.OK, scrape.Status);
        Assert.Contains(series, scrape.Body, StringComparison.Ordinal);

        // What stays anonymous: the public JWKS and discovery, and health that names no set or namespace.
        foreach (var path in new[] { $"/v1/namespaces/{victim}/signingkeysets/payments/jwks.json", $"/v1/namespaces/{victim}/signingkeysets/payments/.well-known/openid-configuration" })
            Assert.Equal(HttpStatusCode.OK, (await GetAsync(http, path, null, ct)).Status);
        foreach (var path in new[] { "/healthz", "/readyz" })
        {
            var health = await GetAsync(http, path, null, ct);
            Assert.Equal(HttpStatusCode.OK, health.Status);
            Assert.DoesNotContain(victim, health.Body, StringComparison.Ordinal);
            Assert.DoesNotContain("payments", health.Body, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task With_metrics_authentication_None_metrics_are_served_to_anyone_as_documented()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("metrics-open", ct);
        await using var op = await OperatorInstance.StartAsync(env, [ns], settings: new Dictionary<string, string?> { ["KeyRotator:Metrics:Authentication"] = "None" });
        var scenario = new OperatorScenario(env, ns);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        await scenario.WaitForActiveKeyAsync("auth");
        using var http = new HttpClient { BaseAddress = op.BaseAddress };

        var text = await Eventually.HoldsAsync(() => GetAsync(http, "/metrics", null, ct), r => r.Status == HttpStatusCode.OK && r.Body.Contains($"keyrotator_signingkeyset_ready{{namespace=\"{ns}\",name=\"auth\"}} 1", StringComparison.Ordinal),
            TimeSpan.FromSeconds(10), "an anonymous scrape with the set's series", ct);
        Assert.Equal(HttpStatusCode.OK, text.Status);
    }

    private static async Task<(HttpStatusCode Status, string Body, string? Challenge)> GetAsync(HttpClient http, string path, string? token, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(path, UriKind.Relative));
        if (token is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request, ct);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(ct), response.Headers.WwwAuthenticate.FirstOrDefault()?.Scheme);
    }
}
