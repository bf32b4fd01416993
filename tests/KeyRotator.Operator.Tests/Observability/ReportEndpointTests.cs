using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using k8s;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Observability;

public sealed class ReportEndpointTests(KubernetesEnvironment env)
{
    [Fact]
    public async Task Reports_need_an_audience_bound_token_and_permission_on_that_set()
    {
        var ct = TestContext.Current.CancellationToken;
        var a = await env.CreateNamespaceAsync("reports-a", ct);
        var b = await env.CreateNamespaceAsync("reports-b", ct);
        await using var op = await OperatorInstance.StartAsync(env, [a, b]);
        var scenarioA = new OperatorScenario(env, a);
        await scenarioA.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", a).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        await new OperatorScenario(env, b).Sets.CreateAsync(SigningKeySetBuilder.Named("auth", b).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        await scenarioA.WaitForActiveKeyAsync("auth");
        var reporter = await ServiceAccountTokenAsync(a, "verifier", grantReporter: true, "keyrotator");
        var intruder = await ServiceAccountTokenAsync(a, "intruder", grantReporter: false, "keyrotator");
        var wrongAudience = await ServiceAccountTokenAsync(a, "verifier", grantReporter: true, "https://kubernetes.default.svc");
        using var http = new HttpClient { BaseAddress = op.BaseAddress };
        var report = new { failures = new[] { new { reason = "bad_signature", kid = "kid-1", count = 2 } } };

        Assert.Equal(HttpStatusCode.Unauthorized, await FailureReports.PostAsync(http, a, null, report));
        Assert.Equal(HttpStatusCode.Unauthorized, await FailureReports.PostAsync(http, a, "not-a-token", report));
        Assert.Equal(HttpStatusCode.Unauthorized, await FailureReports.PostAsync(http, a, wrongAudience, report));
        Assert.Equal(HttpStatusCode.Forbidden, await FailureReports.PostAsync(http, a, intruder, report));
        Assert.Equal(HttpStatusCode.Accepted, await FailureReports.PostAsync(http, a, reporter, report));
        Assert.Equal(HttpStatusCode.Forbidden, await FailureReports.PostAsync(http, b, reporter, report));
        Assert.Equal(HttpStatusCode.BadRequest, await FailureReports.PostAsync(http, a, reporter, new { failures = new[] { new { reason = "bored", kid = "k", count = 1 } } }));
        using (var garbage = new HttpRequestMessage(HttpMethod.Post, FailureReports.Path(a)) { Content = new StringContent("{not json", System.Text.Encoding.UTF8, "application/json") })
        {
            garbage.Headers.Authorization = new AuthenticationHeaderValue("Bearer", reporter);
            Assert.Equal(HttpStatusCode.BadRequest, (await http.SendAsync(garbage, ct)).StatusCode);
        }

        var huge = new { failures = Enumerable.Range(0, 5000).Select(i => new { reason = "expired", kid = new string('k', 40), count = 1 }).ToArray() };
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, await FailureReports.PostAsync(http, a, reporter, huge));

        // A flood from one caller is throttled; another caller is not.
        var other = await ServiceAccountTokenAsync(a, "verifier-2", grantReporter: true, "keyrotator");
        var flood = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => FailureReports.PostAsync(http, a, reporter, report)));
        Assert.Contains(HttpStatusCode.TooManyRequests, flood);
        Assert.Equal(HttpStatusCode.Accepted, await FailureReports.PostAsync(http, a, other, report));

        var metrics = await http.GetMetricsAsync(env, ct);
        Assert.Contains($"keyrotator_signature_failures_total{{namespace=\"{a}\",name=\"auth\",reason=\"bad_signature\"}}", metrics, StringComparison.Ordinal);

        // Refused callers fill no log: neither the authentication scheme nor the rate limiter writes a line per request.
        Assert.DoesNotContain(op.Logs.Lines, l => l.Contains("was challenged", StringComparison.Ordinal) || l.Contains("was not authenticated", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_spike_of_failures_raises_the_condition_an_Event_and_a_gauge_and_clears_when_the_window_is_quiet()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("spike", ct);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        var scenario = new OperatorScenario(env, ns);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { SignatureFailureAlert = new SignatureFailureAlertSpec { Window = "8s", Threshold = 20, Ratio = 5 } })
            .Build(), ct);
        var set = await scenario.WaitForActiveKeyAsync("auth");
        var kid = set.Status!.ActiveKeyId!;
        var reporter = await ServiceAccountTokenAsync(ns, "verifier", grantReporter: true, "keyrotator");
        using var http = new HttpClient { BaseAddress = op.BaseAddress };

        // Below the threshold: no spike.
        Assert.Equal(HttpStatusCode.Accepted, await FailureReports.PostAsync(http, ns, reporter, new { failures = new[] { new { reason = "bad_signature", kid, count = 5 } } }));
        await Task.Delay(500, ct);
        Assert.False(ConditionSet.IsTrue((await scenario.GetAsync("auth")).Status!.Conditions, ConditionSet.SignatureFailureSpike));

        Assert.Equal(HttpStatusCode.Accepted, await FailureReports.PostAsync(http, ns, reporter, new { failures = new[] { new { reason = "bad_signature", kid, count = 30 }, new { reason = "expired", kid, count = 2 } } }));
        var spiking = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"),
            s => ConditionSet.IsTrue(s.Status?.Conditions, ConditionSet.SignatureFailureSpike), TimeSpan.FromSeconds(5), "SignatureFailureSpike=True");
        var condition = ConditionSet.Find(spiking.Status!.Conditions, ConditionSet.SignatureFailureSpike)!;
        Assert.Contains("bad_signature", condition.Message, StringComparison.Ordinal);
        Assert.Contains(kid, condition.Message, StringComparison.Ordinal);
        // Metrics and Events follow the status write within the same reconcile.
        var gauge = $"keyrotator_signature_failure_spike{{namespace=\"{ns}\",name=\"auth\",reason=\"bad_signature\",kid=\"{kid}\"}} 1";
        await Eventually.HoldsAsync(() => http.GetMetricsAsync(env, ct), m => m.Contains(gauge, StringComparison.Ordinal), TimeSpan.FromSeconds(5), "the spike gauge", ct);
        await Eventually.HoldsAsync(() => scenario.EventsAsync("auth"), e => e.Any(x => x.Reason == "SignatureFailureSpike" && x.Type == "Warning"), TimeSpan.FromSeconds(5), "a SignatureFailureSpike Event", ct);

        var cleared = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"),
            s => !ConditionSet.IsTrue(s.Status?.Conditions, ConditionSet.SignatureFailureSpike), TimeSpan.FromSeconds(20), "the spike clearing");
        Assert.Equal("NoSpike", ConditionSet.Find(cleared.Status!.Conditions, ConditionSet.SignatureFailureSpike)!.Reason);
        await Eventually.HoldsAsync(() => http.GetMetricsAsync(env, ct),
            m => !m.Contains("keyrotator_signature_failure_spike{", StringComparison.Ordinal), TimeSpan.FromSeconds(5), "the spike gauge removed", ct);
        await Eventually.HoldsAsync(() => scenario.EventsAsync("auth"), e => e.Any(x => x.Reason == "SignatureFailuresSubsided"), TimeSpan.FromSeconds(5), "a SignatureFailuresSubsided Event", ct);
    }


    [Fact]
    public async Task A_report_whose_review_the_API_server_does_not_answer_gets_503_with_Retry_After_and_the_next_goes_through()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("review-stall", ct);
        // The API server stops answering TokenReviews (the connection stays up); one review at a time, so
        // that a turn not handed back would hold up the report after it.
        var stall = new StallingHandler(r => r.RequestUri!.AbsolutePath.EndsWith("/tokenreviews", StringComparison.Ordinal));
        await using var op = await OperatorInstance.StartAsync(env, [ns],
            settings: [new("KeyRotator:Reports:ReviewTimeout", "00:00:01"), new("KeyRotator:Reports:MaxConcurrentReviews", "1")], handlers: [stall]);
        var scenario = new OperatorScenario(env, ns);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        await scenario.WaitForActiveKeyAsync("auth");
        var token = await ServiceAccountTokenAsync(ns, "verifier", grantReporter: true, "keyrotator");
        using var http = new HttpClient { BaseAddress = op.BaseAddress };
        var report = new { failures = new[] { new { reason = "bad_signature", kid = "kid-1", count = 1 } } };

        stall.Stalling = true;
        using (var request = new HttpRequestMessage(HttpMethod.Post, FailureReports.Path(ns)) { Content = JsonContent.Create(report) })
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var response = await http.SendAsync(request, ct);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.NotNull(response.Headers.RetryAfter);
            Assert.Contains("could not check this caller's credentials (TokenReview: the API server did not answer within 1 s); send it again later", await response.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
        }

        // The timed-out review handed its turn back and was not remembered: the same token goes through now.
        stall.Stalling = false;
        Assert.Equal(HttpStatusCode.Accepted, await FailureReports.PostAsync(http, ns, token, report));
        Assert.DoesNotContain(op.Logs.Lines, l => l.Contains(token, StringComparison.Ordinal));
        Assert.Contains(op.Logs.Lines, l => l.Contains("Could not check a caller's credentials with a TokenReview", StringComparison.Ordinal));
    }

    private Task<string> ServiceAccountTokenAsync(string ns, string name, bool grantReporter, string audience) =>
        ServiceAccounts.TokenAsync(env, ns, name, audience, grantReporter);

    /// <summary>While <see cref="Stalling"/>, matching requests get no answer until they are cancelled: an API server that has stopped answering.</summary>
    private sealed class StallingHandler(Func<HttpRequestMessage, bool> matches) : DelegatingHandler
    {
        public volatile bool Stalling;

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (Stalling && matches(request))
                await Task.Delay(Timeout.Infinite, cancellationToken);
            return await base.SendAsync(request, cancellationToken);
        }
    }
}
