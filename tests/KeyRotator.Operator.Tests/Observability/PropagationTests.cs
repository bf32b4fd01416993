using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using k8s;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Serving;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Observability;

/// <summary>Verifiers and signers say which JWKS and which kid they hold; the set's status and metrics count them.</summary>
public sealed class PropagationTests(KubernetesEnvironment env)
{
    [Fact]
    public async Task A_verifier_that_has_not_reloaded_is_named_and_counted_without_the_next_key_and_silent_callers_drop_out()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("propagation", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns], settings: new Dictionary<string, string?> { ["KeyRotator:Reports:PropagationWindow"] = "00:00:08" });
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "40s" }).Build(), ct);
        var first = await scenario.WaitForActiveKeyAsync("auth", TimeSpan.FromSeconds(60));
        var tokens = new List<string>();
        for (var i = 1; i <= 3; i++)
            tokens.Add(await ServiceAccounts.TokenAsync(env, ns, $"verifier-{i}", "keyrotator", grantReporter: true));
        var gateway = await ServiceAccounts.TokenAsync(env, ns, "gateway", "keyrotator", grantReporter: true);
        using var http = new HttpClient { BaseAddress = op.BaseAddress };
        var before = await HashAsync(ns, ct);

        // A rotation asked for now: the next key is published and pending for 40 s.
        var rotate = await scenario.GetAsync("auth");
        await scenario.EditAsync(rotate.Metadata.Name, s =>
        {
            s.Metadata.Annotations ??= new Dictionary<string, string>();
            s.Metadata.Annotations[Labels.RotateNowAnnotation] = "now";
        }, ct);
        var pending = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.NextKeyId is not null, TimeSpan.FromSeconds(15), "a pending key", ct);
        var after = await HashAsync(ns, ct);
        Assert.NotEqual(before, after);

        // Two verifiers reloaded, one did not; a signer still signs with the active key; a gateway fetches over HTTP with its token.
        async Task HeartbeatsAsync()
        {
            Assert.Equal(HttpStatusCode.Accepted, await FailureReports.PostAsync(http, ns, tokens[0], new { failures = Array.Empty<object>(), instance = "v1", jwksHash = after }));
            Assert.Equal(HttpStatusCode.Accepted, await FailureReports.PostAsync(http, ns, tokens[1], new { failures = Array.Empty<object>(), instance = "v2", jwksHash = after }));
            Assert.Equal(HttpStatusCode.Accepted, await FailureReports.PostAsync(http, ns, tokens[2], new { failures = Array.Empty<object>(), instance = "v3", jwksHash = before, signingKid = first.Status!.ActiveKeyId }));
            using var fetch = new HttpRequestMessage(HttpMethod.Get, $"/v1/namespaces/{ns}/signingkeysets/auth/jwks.json");
            fetch.Headers.Add(JwksEndpoint.InstanceHeader, "gateway-0");
            fetch.Headers.Authorization = new AuthenticationHeaderValue("Bearer", gateway);
            using var fetched = await http.SendAsync(fetch, ct);
            Assert.Equal(HttpStatusCode.OK, fetched.StatusCode);
        }

        await HeartbeatsAsync();
        var counted = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.Propagation?.Verifiers == 4, TimeSpan.FromSeconds(10), "four verifiers counted", ct);
        var propagation = counted.Status!.Propagation!;
        Assert.Equal(4, propagation.VerifiersWithActiveKey);
        Assert.Equal(3, propagation.VerifiersWithNextKey);
        Assert.Equal([$"system:serviceaccount:{ns}:verifier-3/v3"], propagation.StaleVerifiers);
        Assert.Equal(1, propagation.Signers);
        Assert.Equal(1, propagation.SignersOnActiveKey);
        Assert.Equal(pending.Status!.NextKeyId, counted.Status.NextKeyId);
        var metrics = await http.GetMetricsAsync(env, ct);
        Assert.Contains($"keyrotator_verifiers{{namespace=\"{ns}\",name=\"auth\"}} 4", metrics, StringComparison.Ordinal);
        Assert.Contains($"keyrotator_verifiers_with_next_key{{namespace=\"{ns}\",name=\"auth\"}} 3", metrics, StringComparison.Ordinal);
        Assert.Contains($"keyrotator_signers_on_active_key{{namespace=\"{ns}\",name=\"auth\"}} 1", metrics, StringComparison.Ordinal);
        using (var stdout = new StringWriter())
        using (var stderr = new StringWriter())
        {
            Assert.Equal(0, await new KeyRotator.Cli.CliApp(stdout, stderr).RunAsync(["status", "-n", ns, "--kubeconfig", env.ControlPlane?.AdminKubeconfigPath ?? Environment.GetEnvironmentVariable(KubernetesEnvironment.ExternalKubeconfigVariable)!]));
            Assert.Contains("4 (3 with next), 1/1 signing", stdout.ToString(), StringComparison.Ordinal);
        }

        // Heartbeats that say nothing new change nothing (no status churn).
        var version = counted.Metadata.ResourceVersion;
        await HeartbeatsAsync();
        await Task.Delay(TimeSpan.FromSeconds(1), ct);
        Assert.Equal(version, (await scenario.GetAsync("auth")).Metadata.ResourceVersion);

        // Callers that fall silent drop out after the window (8 s here), and so does the status.
        await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.Propagation is null, TimeSpan.FromSeconds(20), "silent callers dropping out", ct);
        metrics = await http.GetMetricsAsync(env, ct);
        Assert.DoesNotContain($"keyrotator_verifiers{{namespace=\"{ns}\",name=\"auth\"}}", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Two_hundred_verifiers_heartbeating_for_two_minutes_cost_at_most_one_TokenReview_each()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("heartbeats", ct);
        var scenario = new OperatorScenario(env, ns);
        var reviews = new RequestCounter(r => r.Method == HttpMethod.Post && r.RequestUri?.AbsolutePath.EndsWith("/tokenreviews", StringComparison.Ordinal) == true);
        var inFlight = new InFlightRecorder(r => r.Method == HttpMethod.Post && r.RequestUri?.AbsolutePath.EndsWith("reviews", StringComparison.Ordinal) == true);
        await using var op = await OperatorInstance.StartAsync(env, [ns], handlers: [reviews, inFlight]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        await scenario.WaitForActiveKeyAsync("auth");
        var hash = await HashAsync(ns, ct);

        using var gate = new SemaphoreSlim(8);
        var tokens = await Task.WhenAll(Enumerable.Range(0, 200).Select(async i =>
        {
            await gate.WaitAsync(ct);
            try
            {
                return await ServiceAccounts.TokenAsync(env, ns, $"verifier-{i:000}", "keyrotator", grantReporter: true);
            }
            finally
            {
                gate.Release();
            }
        }));

        using var http = new HttpClient { BaseAddress = op.BaseAddress };
        // Twelve rounds, one every 10 s at most (a slow machine makes rounds longer, never fewer): two minutes of heartbeats.
        var refused = 0;
        for (var round = 0; round < 12; round++)
        {
            var started = DateTime.UtcNow;
            var answers = await Task.WhenAll(tokens.Select((token, i) => FailureReports.PostAsync(http, ns, token, new { failures = Array.Empty<object>(), instance = $"pod-{i:000}", jwksHash = hash })));
            refused += answers.Count(a => a != HttpStatusCode.Accepted);
            var rest = started + TimeSpan.FromSeconds(10) - DateTime.UtcNow;
            if (rest > TimeSpan.Zero && round < 11)
                await Task.Delay(rest, ct);
        }

        Assert.Equal(0, refused);
        Assert.InRange(reviews.Count, 200, 200);
        // 200 new tokens at once, yet never more than KeyRotator:Reports:MaxConcurrentReviews reviews in flight.
        Assert.InRange(inFlight.Max, 1, 8);
        var counted = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.Propagation?.Verifiers == 200, TimeSpan.FromSeconds(10), "200 verifiers counted", ct);
        Assert.Equal(200, counted.Status!.Propagation!.VerifiersWithActiveKey);

        // The burst of reviews never cost the operator its Lease (it used to: threads blocked on their answers starved its renewals).
        Assert.True(op.Health.IsLeader);
        Assert.DoesNotContain(op.Logs.Lines, l => l.Contains("lost the Lease", StringComparison.Ordinal));
    }

    private async Task<string> HashAsync(string ns, CancellationToken ct) =>
        (await env.Admin.CoreV1.ReadNamespacedConfigMapAsync("auth-jwks", ns, cancellationToken: ct)).Metadata.Annotations[Labels.ContentHashAnnotation];
}
