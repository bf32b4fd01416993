using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using k8s;
using KeyRotator.Model.Jose;
using KeyRotator.Operator.Serving;
using KeyRotator.Operator.Tests.Observability;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Serving;

/// <summary>
/// What anyone who can reach the operator's HTTP port can do: read public documents, and change nothing.
/// Requests that change what the operator holds (reports, heartbeats, counted JWKS fetches) need an
/// audience-bound service-account token; junk tokens are refused before they cost a TokenReview.
/// </summary>
[Collection(Chaos.RealProcesses.Name)]
public sealed class AnonymousCallerTests(KubernetesEnvironment env)
{
    /// <summary>docs/operations.md ("Who may call the HTTP port"): the operator's resident memory grows by less than this over 5,000 anonymous fetches.</summary>
    private static readonly string[] ReportAudience = ["keyrotator"];

    private const long ResidentGrowthBound = 48L * 1024 * 1024;

    [Fact]
    public async Task Five_thousand_anonymous_JWKS_fetches_with_as_many_instance_headers_write_nothing_hold_nothing_and_log_nothing()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("anon-jwks", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorProcess.StartServingAsync(env, "operator-anon-jwks", [ns]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "20s" }).Build(), ct);
        await scenario.WaitForActiveKeyAsync("auth");
        using var http = new HttpClient { BaseAddress = op.BaseAddress };
        var path = $"/v1/namespaces/{ns}/signingkeysets/auth/jwks.json";

        // Warm up (JIT, connection pools), then wait for the operator to be idle.
        for (var i = 0; i < 200; i++)
            (await http.GetAsync(path, ct)).Dispose();
        var before = await SnapshotAsync(ns, ct);
        await Eventually.HoldsAsync(async () =>
        {
            var first = await SnapshotAsync(ns, ct);
            await Task.Delay(TimeSpan.FromSeconds(2), ct);
            return first == await SnapshotAsync(ns, ct);
        }, quiet => quiet, TimeSpan.FromSeconds(60), "the operator idle", ct);
        before = await SnapshotAsync(ns, ct);
        var residentBefore = ResidentBytes(op.ProcessId!.Value);
        var linesBefore = op.Output().Count;

        // 5,000 fetches, each naming a new instance; some with a junk bearer token on top.
        using var gate = new SemaphoreSlim(16);
        var codes = await Task.WhenAll(Enumerable.Range(0, 5000).Select(async i =>
        {
            await gate.WaitAsync(ct);
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, path);
                request.Headers.Add(JwksEndpoint.InstanceHeader, $"attacker-{i:0000}");
                if (i % 5 == 0)
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", $"junk-{i}");
                using var response = await http.SendAsync(request, ct);
                return response.StatusCode;
            }
            finally
            {
                gate.Release();
            }
        }));
        Assert.All(codes, c => Assert.Equal(HttpStatusCode.OK, c));

        // Give anything the fetches might have queued time to happen, then look: no write, no state, no log line.
        await Task.Delay(TimeSpan.FromSeconds(3), ct);
        var after = await SnapshotAsync(ns, ct);
        Assert.Equal(before, after);
        var set = await scenario.GetAsync("auth");
        Assert.Null(set.Status!.Propagation);
        var metrics = await http.GetMetricsAsync(env, ct);
        Assert.DoesNotContain($"keyrotator_verifiers{{namespace=\"{ns}\"", metrics, StringComparison.Ordinal);
        var growth = ResidentBytes(op.ProcessId.Value) - residentBefore;
        Assert.True(growth < ResidentGrowthBound, $"resident memory grew by {growth / 1024 / 1024} MB over 5,000 anonymous fetches");
        var newLines = op.Output().Skip(linesBefore).ToList();
        Assert.True(newLines.Count < 20, $"{newLines.Count} log lines for 5,000 anonymous fetches:\n{string.Join('\n', newLines.Take(20))}");

        // The same fetch with a token allowed to report for the set is an observation of its caller.
        var token = await ServiceAccounts.TokenAsync(env, ns, "gateway", "keyrotator", grantReporter: true);
        using (var counted = new HttpRequestMessage(HttpMethod.Get, path))
        {
            counted.Headers.Add(JwksEndpoint.InstanceHeader, "gateway-0");
            counted.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(counted, ct)).StatusCode);
        }

        var observed = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.Propagation?.Verifiers == 1, TimeSpan.FromSeconds(15), "the authenticated fetch counted", ct);
        Assert.Equal(1, observed.Status!.Propagation!.VerifiersWithActiveKey);
    }

    [Fact]
    public async Task A_flood_of_fresh_well_formed_tokens_with_bad_signatures_costs_at_most_the_TokenReview_budget_while_reporters_and_rotations_go_on()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("token-flood", ct);
        var scenario = new OperatorScenario(env, ns);
        // Two operator processes, each reaching the API server through a proxy that counts what it is sent;
        // the second runs where RBAC does not let it read the issuer keys: the budget alone stands there.
        var plane = env.ControlPlane;
        Assert.SkipWhen(plane is null, "needs the envtest control plane (its operator credentials) to run operator processes");
        await using var proxy = await ApiServerProxy.StartAsync(plane.Server);
        await using var standbyProxy = await ApiServerProxy.StartAsync(plane.Server);
        standbyProxy.Forbid = r => r.Path.Value == "/openid/v1/jwks";
        await using var op = await OperatorProcess.StartServingAsync(env, "operator-flood", [ns], kubeconfig: plane.WriteOperatorKubeconfig($"operator-flood-{ns}", proxy.Address));
        await using var standby = await OperatorProcess.StartServingAsync(env, "operator-flood-standby", [ns], kubeconfig: plane.WriteOperatorKubeconfig($"operator-flood-standby-{ns}", standbyProxy.Address));
        var reviews = new ReviewCount(proxy);
        var standbyReviews = new ReviewCount(standbyProxy);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "2s" }).Build(), ct);
        var first = await scenario.WaitForActiveKeyAsync("auth", TimeSpan.FromSeconds(60));
        var reporter = await ServiceAccounts.TokenAsync(env, ns, "verifier", "keyrotator", grantReporter: true);
        var issuerKid = await IssuerKidAsync(ct);
        using var http = new HttpClient { BaseAddress = op.BaseAddress };
        using var standbyHttp = new HttpClient { BaseAddress = standby.BaseAddress };
        var report = new { failures = Array.Empty<object>(), instance = "verifier-0" };
        Assert.Equal(HttpStatusCode.Accepted, await FailureReports.PostAsync(http, ns, reporter, report, ct));
        Assert.Equal(HttpStatusCode.Accepted, await FailureReports.PostAsync(standbyHttp, ns, reporter, report, ct));

        // With the issuer keys, no forged token reaches the API server.
        var window = TimeSpan.FromSeconds(15);
        var (refused, accepted, reviewed) = await FloodAsync(http, ns, reporter, report, issuerKid, reviews, window, ct);
        Assert.True(refused > 100, $"only {refused} forged reports were sent");
        Assert.Equal(0, reviewed);
        Assert.All(accepted, c => Assert.Equal(HttpStatusCode.Accepted, c));

        // A rotation asked for now completes while the second flood goes on.
        await scenario.EditAsync("auth", s =>
        {
            s.Metadata.Annotations ??= new Dictionary<string, string>();
            s.Metadata.Annotations[KeyRotator.Model.Kubernetes.Labels.RotateNowAnnotation] = "flood";
        }, ct);

        // Without them, the budget (20 TokenReviews per second by default, after a burst of 200) bounds the cost.
        var (refused2, accepted2, reviewed2) = await FloodAsync(standbyHttp, ns, reporter, report, issuerKid, standbyReviews, window, ct);
        Assert.True(refused2 > 100, $"only {refused2} forged reports were sent");
        Assert.InRange(reviewed2, 1, 200 + (20 * ((int)window.TotalSeconds + 2)));
        Assert.All(accepted2, c => Assert.Equal(HttpStatusCode.Accepted, c));

        var rotated = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.ActiveKeyId is { } kid && kid != first.Status!.ActiveKeyId, TimeSpan.FromSeconds(30), "the rotation asked for during the flood", ct);
        Assert.NotEqual(first.Status!.ActiveKeyId, rotated.Status!.ActiveKeyId);
        Assert.DoesNotContain(op.Output().Concat(standby.Output()), l => l.Contains(reporter, StringComparison.Ordinal));
    }

    /// <summary>The TokenReviews an operator process has sent, as its proxy to the API server saw them.</summary>
    private sealed class ReviewCount(ApiServerProxy proxy)
    {
        public int Count => proxy.Writes.Count(w => w.Method == "POST" && w.Path.EndsWith("/tokenreviews", StringComparison.Ordinal));
    }

    /// <summary>32 clients send reports with a fresh forged token each for <paramref name="duration"/>, while the reporter reports twice a second.</summary>
    private static async Task<(int Refused, IReadOnlyList<HttpStatusCode> Reporter, int Reviews)> FloodAsync(
        HttpClient http, string ns, string reporter, object report, string issuerKid, ReviewCount reviews, TimeSpan duration, CancellationToken ct)
    {
        var reviewsBefore = reviews.Count;
        var deadline = Stopwatch.StartNew();
        var refused = 0;
        var unexpected = new List<HttpStatusCode>();
        var clients = Enumerable.Range(0, 32).Select(async client =>
        {
            while (deadline.Elapsed < duration)
            {
                var code = await FailureReports.PostAsync(http, ns, ForgedToken(issuerKid, ns), report, ct);
                lock (unexpected)
                {
                    if (code is HttpStatusCode.Unauthorized or HttpStatusCode.ServiceUnavailable)
                        refused++;
                    else
                        unexpected.Add(code);
                }
            }
        }).ToList();
        var reporterAnswers = new List<HttpStatusCode>();
        while (deadline.Elapsed < duration)
        {
            reporterAnswers.Add(await FailureReports.PostAsync(http, ns, reporter, report, ct));
            await Task.Delay(500, ct);
        }

        await Task.WhenAll(clients);
        Assert.Empty(unexpected);
        return (refused, reporterAnswers, reviews.Count - reviewsBefore);
    }

    /// <summary>A token that looks like a service-account token for the report audience (right kid, audience, future expiry) with a random signature.</summary>
    private static string ForgedToken(string kid, string ns)
    {
        static string Part(object value) => Base64Url.Encode(JsonSerializer.SerializeToUtf8Bytes(value));
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var header = Part(new { alg = "RS256", kid });
        var payload = Part(new Dictionary<string, object>
        {
            ["aud"] = ReportAudience,
            ["exp"] = now + 3600,
            ["iat"] = now,
            ["nbf"] = now,
            ["iss"] = "https://kubernetes.default.svc",
            ["sub"] = $"system:serviceaccount:{ns}:forged-{Guid.NewGuid():N}",
        });
        return $"{header}.{payload}.{Base64Url.Encode(RandomNumberGenerator.GetBytes(256))}";
    }

    private async Task<string> IssuerKidAsync(CancellationToken ct)
    {
        // KubernetesClient's generated Openid call expects a JSON string; read the document as it is.
        var admin = (k8s.Kubernetes)env.Admin;
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"{admin.BaseUri.ToString().TrimEnd('/')}/openid/v1/jwks"));
        await admin.Credentials!.ProcessHttpRequestAsync(request, ct);
        using var response = await admin.HttpClient.SendAsync(request, ct);
        using var keys = JsonDocument.Parse(await response.EnsureSuccessStatusCode().Content.ReadAsStringAsync(ct));
        return keys.RootElement.GetProperty("keys")[0].GetProperty("kid").GetString()!;
    }

    /// <summary>What a user sees change in the namespace: every object's resourceVersion and the Events.</summary>
    private async Task<string> SnapshotAsync(string ns, CancellationToken ct)
    {
        var sets = await env.Admin.CustomObjects.ListNamespacedCustomObjectAsync<JsonElement>("keyrotator.io", "v1alpha1", ns, "signingkeysets", cancellationToken: ct);
        var configMaps = await env.Admin.CoreV1.ListNamespacedConfigMapAsync(ns, cancellationToken: ct);
        var secrets = await env.Admin.CoreV1.ListNamespacedSecretAsync(ns, cancellationToken: ct);
        var events = await env.Admin.CoreV1.ListNamespacedEventAsync(ns, cancellationToken: ct);
        var versions = sets.GetProperty("items").EnumerateArray().Select(s => s.GetProperty("metadata").GetProperty("resourceVersion").GetString())
            .Concat(configMaps.Items.Select(c => c.Metadata.ResourceVersion))
            .Concat(secrets.Items.Select(s => s.Metadata.ResourceVersion))
            .Concat(events.Items.Select(e => $"{e.Metadata.Name}:{e.Count}"));
        return string.Join(",", versions.Order(StringComparer.Ordinal));
    }

    private static long ResidentBytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>Matching requests are answered 403, as by an API server whose RBAC does not grant them.</summary>
    private sealed class RefusingHandler(Func<HttpRequestMessage, bool> matches) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            matches(request)
                ? Task.FromResult(new HttpResponseMessage(HttpStatusCode.Forbidden) { RequestMessage = request, Content = new StringContent("{\"kind\":\"Status\",\"code\":403}", Encoding.UTF8, "application/json") })
                : base.SendAsync(request, cancellationToken);
    }
}
