using System.Net;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Observability;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Observability;

/// <summary>
/// Issue #32, item 2: one team's reports cannot grow the process every team shares. Team B, with the
/// reporter role in its own namespace, floods its own set with every reason, ever new kids, mostly zero
/// counts and a window as long as the schema's pattern allows; team A's spike is still seen.
/// </summary>
public sealed class ReportFloodTests(KubernetesEnvironment env)
{
    [Fact]
    public async Task A_flood_of_distinct_kids_and_zero_counts_keeps_the_set_under_its_ceiling_and_the_other_team_still_sees_its_spike()
    {
        var ct = TestContext.Current.CancellationToken;
        var a = await env.CreateNamespaceAsync("flood-a", ct);
        var b = await env.CreateNamespaceAsync("flood-b", ct);
        await using var op = await OperatorInstance.StartAsync(env, [a, b]);
        var victim = new OperatorScenario(env, a);
        await victim.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", a)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { SignatureFailureAlert = new SignatureFailureAlertSpec { Window = "30s", Threshold = 20, Ratio = 5 } })
            .Build(), ct);
        // The 1.20 API server does not evaluate the window's CEL rule: the operator holds the set instead, and its reports are still taken.
        await new OperatorScenario(env, b).Sets.CreateAsync(SigningKeySetBuilder.Named("auth", b)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { SignatureFailureAlert = new SignatureFailureAlertSpec { Window = "10000h", Threshold = 20, Ratio = 5 } })
            .Build(), ct);
        var kid = (await victim.WaitForActiveKeyAsync("auth")).Status!.ActiveKeyId!;
        using var http = new HttpClient { BaseAddress = op.BaseAddress };
        string[] reasons = ["unknown_kid", "bad_signature", "alg_rejected", "expired", "not_yet_valid", "audience", "issuer", "lifetime", "malformed"];

        var accepted = 0;
        var most = 0;
        for (var verifier = 0; verifier < 3; verifier++)
        {
            var token = await ServiceAccounts.TokenAsync(env, b, $"flooder-{verifier}", "keyrotator", grantReporter: true);
            for (var report = 0; report < 10; report++)
            {
                var failures = Enumerable.Range(0, 1000).Select(i => new { reason = reasons[i % reasons.Length], kid = $"f{verifier}{report}-{i}", count = i % 4 == 0 ? 1 : 0 }).ToArray();
                var code = await FailureReports.PostAsync(http, b, token, new { failures }, ct);
                Assert.True(code is HttpStatusCode.Accepted or HttpStatusCode.TooManyRequests, $"report {report} of flooder {verifier}: {code}");
                accepted += code == HttpStatusCode.Accepted ? 1 : 0;
                most = Math.Max(most, op.SignatureFailures.RetainedCauses(b, "auth"));
            }
        }

        Assert.True(accepted >= 15, $"only {accepted} of 30 flood reports were accepted: the flood did not reach the tracker");
        Assert.InRange(most, 1, SignatureFailureTracker.MaxCausesPerSet);

        // Team A's verifier reports a real burst: its set still raises the spike, naming its kid.
        var reporter = await ServiceAccounts.TokenAsync(env, a, "verifier", "keyrotator", grantReporter: true);
        Assert.Equal(HttpStatusCode.Accepted, await FailureReports.PostAsync(http, a, reporter, new { failures = new[] { new { reason = "bad_signature", kid, count = 30 } } }, ct));
        var spiking = await Eventually.HoldsAsync(() => victim.GetAsync("auth"),
            s => ConditionSet.IsTrue(s.Status?.Conditions, ConditionSet.SignatureFailureSpike), TimeSpan.FromSeconds(10), "team A's SignatureFailureSpike=True");
        Assert.Contains(kid, ConditionSet.Find(spiking.Status!.Conditions, ConditionSet.SignatureFailureSpike)!.Message, StringComparison.Ordinal);
        Assert.InRange(op.SignatureFailures.RetainedCauses(b, "auth"), 1, SignatureFailureTracker.MaxCausesPerSet);
    }
}
