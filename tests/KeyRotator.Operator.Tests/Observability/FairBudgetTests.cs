using System.Collections.Concurrent;
using System.Net;
using k8s;
using k8s.Models;
using KeyRotator.Operator.Observability;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Observability;

/// <summary>
/// What the operator shares between teams is divided per namespace: one team's flood of TokenReviews
/// spends its own namespace's share, and one caller cannot hold more than its share of a set's callers.
/// </summary>
public sealed class FairBudgetTests(KubernetesEnvironment env)
{
    private const string StaleHash = "0000000000000000000000000000000000000000000000000000000000000000";

    [Fact]
    public async Task A_team_flooding_TokenReviews_with_its_own_tokens_leaves_another_teams_first_time_reporters_accepted()
    {
        var ct = TestContext.Current.CancellationToken;
        var victim = await env.CreateNamespaceAsync("fair-victim", ct);
        var flooder = await env.CreateNamespaceAsync("fair-flooder", ct);
        await using var op = await OperatorInstance.StartAsync(env, [victim, flooder]);
        var scenario = new OperatorScenario(env, victim);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", victim).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        await scenario.WaitForActiveKeyAsync("auth");

        // The flooding team mints fresh tokens for a service account of its own (it may do that in its
        // namespace), each one well-formed, correctly signed and bound to the operator's audience: every
        // one costs a TokenReview. The victim's verifiers are new too: each one's first report needs one.
        const int Reporters = 20;
        const int FloodTokens = 2400;
        await ServiceAccounts.TokenAsync(env, flooder, "flooder", "keyrotator");
        // (Tokens minted in one second are identical unless something differs: each one lives a second longer.)
        var floodTokens = await MintAsync(FloodTokens, async i => (await env.Admin.CoreV1.CreateNamespacedServiceAccountTokenAsync(new Authenticationv1TokenRequest
        {
            Spec = new V1TokenRequestSpec { Audiences = ["keyrotator"], ExpirationSeconds = 3600 + i },
        }, "flooder", flooder, cancellationToken: ct)).Status.Token, ct);
        Assert.Equal(FloodTokens, floodTokens.Distinct().Count());
        var reporterTokens = await MintAsync(Reporters, i => ServiceAccounts.TokenAsync(env, victim, $"verifier-{i:00}", "keyrotator", grantReporter: true), ct);

        using var http = new HttpClient { BaseAddress = op.BaseAddress };
        var flood = new ConcurrentQueue<string>(floodTokens);
        var floodAnswers = new ConcurrentDictionary<HttpStatusCode, int>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var report = new { failures = Array.Empty<object>(), instance = "flood" };
        // Up to about 150 fresh tokens a second from four senders, for as long as the victim's reporters report.
        var floods = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested && flood.TryDequeue(out var token))
            {
                try
                {
                    var code = await FailureReports.PostAsync(http, victim, token, report, stop.Token);
                    floodAnswers.AddOrUpdate(code, 1, (_, n) => n + 1);
                    await Task.Delay(25, stop.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }
        }, CancellationToken.None)).ToList();

        // Past the burst: wait until the global budget is spent (the flood is turned away for want of it),
        // so that the reporters below meet only what refills each second.
        await Eventually.HoldsAsync(() => Task.FromResult(floodAnswers.GetValueOrDefault(HttpStatusCode.ServiceUnavailable)), n => n > 0,
            TimeSpan.FromSeconds(60), "the flood turned away for want of review budget", ct);
        var accepted = 0;
        var answers = new List<HttpStatusCode>();
        foreach (var token in reporterTokens)
        {
            var code = await FailureReports.PostAsync(http, victim, token, new { failures = Array.Empty<object>(), instance = "api-0", jwksHash = StaleHash }, ct);
            answers.Add(code);
            accepted += code == HttpStatusCode.Accepted ? 1 : 0;
            await Task.Delay(400, ct);
        }

        var floodStillRunning = !flood.IsEmpty;
        await stop.CancelAsync();
        await Task.WhenAll(floods);

        var flooded = string.Join(", ", floodAnswers.Select(a => $"{(int)a.Key}×{a.Value}"));
        Assert.True(accepted >= Reporters * 95 / 100, $"{accepted} of {Reporters} first-time reporters accepted during the flood ({flooded}): {string.Join(", ", answers.Select(a => (int)a))}");
        Assert.True(floodStillRunning, "the flood ran out of tokens before the victim's reporters were done; mint more");
        // The flood was a real one: most of its tokens were turned away for want of budget.
        Assert.True(floodAnswers.GetValueOrDefault(HttpStatusCode.ServiceUnavailable) > 100, $"the flood's answers: {flooded}");
    }

    [Fact]
    public async Task One_caller_naming_made_up_instances_on_JWKS_fetches_cannot_crowd_out_a_real_verifier_and_a_pod_bound_token_names_its_pod()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("fair-callers", ct);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        var scenario = new OperatorScenario(env, ns);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        await scenario.WaitForActiveKeyAsync("auth");
        using var http = new HttpClient { BaseAddress = op.BaseAddress };

        // A gateway allowed to report for the set (its token bound to no pod) fetches the JWKS under 2,100
        // made-up instance names: more than the set's whole cap of callers.
        var gateway = await ServiceAccounts.TokenAsync(env, ns, "gateway", "keyrotator", grantReporter: true);
        var path = new Uri($"/v1/namespaces/{ns}/signingkeysets/auth/jwks.json", UriKind.Relative);
        using var gate = new SemaphoreSlim(8);
        await Task.WhenAll(Enumerable.Range(0, PropagationTracker.MaxCallersPerSet + 100).Select(async i =>
        {
            await gate.WaitAsync(ct);
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, path);
                request.Headers.Authorization = new("Bearer", gateway);
                request.Headers.Add(KeyRotator.Operator.Serving.JwksEndpoint.InstanceHeader, $"made-up-{i:0000}");
                using var response = await http.SendAsync(request, ct);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }
            finally
            {
                gate.Release();
            }
        }));

        // A real verifier, its token bound to its pod, still holds a JWKS without the active key and says so,
        // naming another instance in the report: it is counted, as its pod.
        var api = await ServiceAccounts.PodTokenAsync(env, ns, "api", "api-7d9f-x2k4q", "keyrotator", grantReporter: true);
        Assert.Equal(HttpStatusCode.Accepted, await FailureReports.PostAsync(http, ns, api, new { failures = Array.Empty<object>(), instance = "someone-else", jwksHash = StaleHash }, ct));

        var set = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.Propagation?.StaleVerifiers?.Count > 0,
            TimeSpan.FromSeconds(15), "the real verifier counted as stale", ct);
        Assert.Equal([$"system:serviceaccount:{ns}:api/api-7d9f-x2k4q"], set.Status!.Propagation!.StaleVerifiers);
        Assert.InRange(set.Status.Propagation.Verifiers, 2, PropagationTracker.MaxCallersPerIdentity + 1);
    }

    [Fact]
    public async Task Reports_naming_made_up_sets_of_another_team_cost_no_SubjectAccessReview()
    {
        var ct = TestContext.Current.CancellationToken;
        var (victim, prober, reviews) = await TwoTeamsAsync("fair-sar", ct);
        await using var op = await OperatorInstance.StartAsync(env, [victim, prober], handlers: [reviews]);
        await ActiveSetAsync(victim);
        using var http = new HttpClient { BaseAddress = op.BaseAddress };

        // Each made-up set name would be a decision of its own, cached per set: a SubjectAccessReview each.
        var token = await ServiceAccounts.TokenAsync(env, prober, "prober", "keyrotator");
        for (var i = 0; i < 8; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, FailureReports.Path(victim, $"made-up-{i}")) { Content = System.Net.Http.Json.JsonContent.Create(new { failures = Array.Empty<object>() }) };
            request.Headers.Authorization = new("Bearer", token);
            using var response = await http.SendAsync(request, ct);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        Assert.Equal(0, reviews.Count);
        // The set that exists is still guarded: the prober may not report for it.
        Assert.Equal(HttpStatusCode.Forbidden, await FailureReports.PostAsync(http, victim, token, new { failures = Array.Empty<object>() }, ct));
        Assert.Equal(1, reviews.Count);
    }

    [Fact]
    public async Task A_burst_of_reports_from_another_team_costs_one_SubjectAccessReview_and_each_is_refused()
    {
        var ct = TestContext.Current.CancellationToken;
        var (victim, prober, reviews) = await TwoTeamsAsync("fair-burst", ct);
        await using var op = await OperatorInstance.StartAsync(env, [victim, prober], handlers: [reviews]);
        await ActiveSetAsync(victim);
        using var http = new HttpClient { BaseAddress = op.BaseAddress };

        // Team B's service account, with a valid report token of its own, sends 40 reports at once for team A's set.
        var token = await ServiceAccounts.TokenAsync(env, prober, "prober", "keyrotator");
        var answers = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => FailureReports.PostAsync(http, victim, token, new { failures = Array.Empty<object>() }, ct)));

        // One review decides for the whole burst, and every report hears why it was refused.
        Assert.All(answers, a => Assert.Equal(HttpStatusCode.Forbidden, a));
        Assert.Equal(1, reviews.Count);
    }

    /// <summary>Team A's namespace, team B's (the prober), and a count of the SubjectAccessReviews the operator sends.</summary>
    private async Task<(string Victim, string Prober, RequestCounter Reviews)> TwoTeamsAsync(string prefix, CancellationToken ct) =>
        (await env.CreateNamespaceAsync($"{prefix}-victim", ct), await env.CreateNamespaceAsync($"{prefix}-prober", ct),
            new RequestCounter(r => r.Method == HttpMethod.Post && r.RequestUri?.AbsolutePath.EndsWith("/subjectaccessreviews", StringComparison.Ordinal) == true));

    /// <summary>Team A's set "auth", signing.</summary>
    private async Task ActiveSetAsync(string victim)
    {
        var scenario = new OperatorScenario(env, victim);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", victim).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), TestContext.Current.CancellationToken);
        await scenario.WaitForActiveKeyAsync("auth");
    }

    private static async Task<string[]> MintAsync(int count, Func<int, Task<string>> mint, CancellationToken ct)
    {
        using var gate = new SemaphoreSlim(8);
        return await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
        {
            await gate.WaitAsync(ct);
            try
            {
                return await mint(i);
            }
            finally
            {
                gate.Release();
            }
        }));
    }
}
