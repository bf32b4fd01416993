using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using k8s;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Serving;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Observability;

/// <summary>Reports that reach any replica count once, are evaluated by the leader, and survive the leader's death (SIGKILL).</summary>
public sealed class ReplicaSignalTests(KubernetesEnvironment env)
{
    [Fact]
    public async Task Reports_sent_only_to_the_standby_raise_the_spike_on_the_leader_and_survive_its_death()
    {
        var ct = TestContext.Current.CancellationToken;
        var plane = env.ControlPlane;
        Assert.SkipWhen(plane is null, "needs the envtest control plane (its operator credentials) to run operator processes");
        var ns = await env.CreateNamespaceAsync("replicas", ct);
        var scenario = new OperatorScenario(env, ns);

        // The two-replica chart as GitOps renders it (helm template, no cluster lookups), twice: the same
        // bytes both times, and what it gives each replica to prove itself to the other is its own
        // projected service-account token, not a rendered secret.
        var first = await RenderChartAsync(ns);
        Assert.Equal(first, await RenderChartAsync(ns));
        Assert.DoesNotContain("kind: Secret", first, StringComparison.Ordinal);
        var identity = Regex.Match(first, @"name: KeyRotator__Reports__PeerIdentity, value: ""([^""]+)""").Groups[1].Value;
        var audience = Regex.Match(first, @"serviceAccountToken: \{ audience: ([a-z0-9-]+),").Groups[1].Value;
        Assert.Equal($"system:serviceaccount:{ns}:kr-keyrotator", identity);
        var tokenFile = Path.Combine(Directory.CreateTempSubdirectory("keyrotator-peer-").FullName, "token");
        await File.WriteAllTextAsync(tokenFile, await ServiceAccounts.TokenAsync(env, ns, "kr-keyrotator", audience), ct);

        int portA = FreePort.Next(), portB = FreePort.Next();
        Dictionary<string, string?> Settings(int peer) => new()
        {
            ["KeyRotator:Reports:PeerTokenPath"] = tokenFile,
            ["KeyRotator:Reports:PeerIdentity"] = identity,
            ["KeyRotator:Reports:Peers:0"] = $"http://127.0.0.1:{peer}",
            ["KeyRotator:Reports:PropagationWindow"] = "00:02:00",
        };
        await using var a = new OperatorProcess(env, "replica-a", plane.OperatorKubeconfigPath, [ns], Settings(portB), portA);
        await using var b = new OperatorProcess(env, "replica-b", plane.OperatorKubeconfigPath, [ns], Settings(portA), portB);
        a.Start();
        await Eventually.HoldsAsync(() => env.Admin.CoordinationV1.ReadNamespacedLeaseAsync("keyrotator-leader", ns, cancellationToken: ct),
            l => l.Spec.HolderIdentity == "replica-a", TimeSpan.FromSeconds(60), "replica-a leading", ct);
        b.Start();
        using var standby = new HttpClient { BaseAddress = b.BaseAddress };
        using var leader = new HttpClient { BaseAddress = a.BaseAddress };
        await Eventually.HoldsAsync(async () => (await standby.GetAsync(new Uri("/healthz", UriKind.Relative), ct)).IsSuccessStatusCode, up => up, TimeSpan.FromSeconds(60), "replica-b serving", ct);

        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { SignatureFailureAlert = new KeyRotator.Model.Resources.SignatureFailureAlertSpec { Window = "2m", Threshold = 5, Ratio = 5 } })
            .Build(), ct);
        await scenario.WaitForActiveKeyAsync("auth", TimeSpan.FromSeconds(60));
        var hash = (await env.Admin.CoreV1.ReadNamespacedConfigMapAsync("auth-jwks", ns, cancellationToken: ct)).Metadata.Annotations[Labels.ContentHashAnnotation];
        var token = await ServiceAccounts.TokenAsync(env, ns, "verifier", "keyrotator", grantReporter: true);

        // Only the standby hears the verifier.
        using (var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/namespaces/{ns}/signingkeysets/auth/signaturefailures")
        {
            Content = JsonContent.Create(new { failures = new[] { new { reason = "bad_signature", kid = "forged-kid", count = 10 } }, instance = "v1", jwksHash = hash }),
        })
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            Assert.Equal(HttpStatusCode.Accepted, (await standby.SendAsync(request, ct)).StatusCode);
        }

        var spiking = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"),
            s => ConditionSet.IsTrue(s.Status?.Conditions, ConditionSet.SignatureFailureSpike), TimeSpan.FromSeconds(15), "the leader raising the spike", ct);
        Assert.Equal(1, spiking.Status!.Propagation!.Verifiers);
        Assert.Equal("replica-a", (await env.Admin.CoordinationV1.ReadNamespacedLeaseAsync("keyrotator-leader", ns, cancellationToken: ct)).Spec.HolderIdentity);

        // Counted once over both replicas' metrics.
        var counter = $"keyrotator_signature_failures_total{{namespace=\"{ns}\",name=\"auth\",reason=\"bad_signature\"}}";
        var total = Sum(await standby.GetMetricsAsync(env, ct), counter)
            + Sum(await leader.GetMetricsAsync(env, ct), counter);
        Assert.Equal(10, total);

        // Nobody else can pose as a replica: not without a token, not with a reporter's token, not with a
        // peer-audience token of another service account.
        var otherPeer = await ServiceAccounts.TokenAsync(env, ns, "impostor", audience);
        foreach (var bearer in new string?[] { null, "guess", token, otherPeer })
        {
            using var forged = new HttpRequestMessage(HttpMethod.Post, $"/v1/namespaces/{ns}/signingkeysets/auth/signaturefailures")
            {
                Content = JsonContent.Create(new { failures = new[] { new { reason = "bad_signature", kid = "x", count = 1000 } } }),
            };
            forged.Headers.Add(PeerForwarder.CallerHeader, "system:serviceaccount:kube-system:admin");
            if (bearer is not null)
                forged.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
            Assert.Equal(HttpStatusCode.Unauthorized, (await leader.SendAsync(forged, ct)).StatusCode);
        }

        // The leader dies (SIGKILL); the standby takes over holding the same reports: the spike and the verifier stay.
        await a.KillAsync();
        var observed = new List<bool>();
        var spikeGauge = $"keyrotator_signature_failure_spike{{namespace=\"{ns}\",name=\"auth\",reason=\"bad_signature\",kid=\"forged-kid\"}} 1";
        await Eventually.HoldsAsync(async () =>
        {
            observed.Add(ConditionSet.IsTrue((await scenario.GetAsync("auth")).Status?.Conditions, ConditionSet.SignatureFailureSpike));
            return await standby.GetMetricsAsync(env, ct);
        }, m => m.Contains("keyrotator_leader 1", StringComparison.Ordinal) && m.Contains(spikeGauge, StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), "replica-b leading and reporting the spike from its own evaluation", ct);
        Assert.All(observed, s => Assert.True(s, "the spike condition cleared during the failover"));
        var after = await scenario.GetAsync("auth");
        Assert.True(ConditionSet.IsTrue(after.Status!.Conditions, ConditionSet.SignatureFailureSpike), "the new leader still sees the spike");
        Assert.Equal(1, after.Status.Propagation!.Verifiers);
    }

    private static async Task<string> RenderChartAsync(string ns)
    {
        var (code, output) = await Repository.RunAsync(Repository.Helm, ["template", "kr", Path.Combine(Repository.Root, "charts", "keyrotator"), "--namespace", ns]);
        Assert.True(code == 0, output);
        return output;
    }

    private static double Sum(string metrics, string series) =>
        metrics.Split('\n').Where(l => l.StartsWith(series + " ", StringComparison.Ordinal)).Sum(l => double.Parse(l[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture));
}
