using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using k8s;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Observability;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Observability;

/// <summary>Reports that reach any replica count once, are evaluated by the leader, and survive a leader change.</summary>
public sealed class ReplicaSignalTests(KubernetesEnvironment env)
{
    [Fact]
    public async Task Reports_sent_only_to_the_standby_raise_the_spike_on_the_leader_and_survive_its_death()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("replicas", ct);
        var scenario = new OperatorScenario(env, ns);
        int portA = FreePort(), portB = FreePort();
        Dictionary<string, string?> Settings(int own, int peer) => new()
        {
            ["urls"] = $"http://127.0.0.1:{own}",
            ["KeyRotator:Reports:PeerSecret"] = "replica-secret",
            ["KeyRotator:Reports:Peers:0"] = $"http://127.0.0.1:{peer}",
            ["KeyRotator:Reports:PropagationWindow"] = "00:02:00",
        };
        var a = await OperatorInstance.StartAsync(env, [ns], identity: "replica-a", settings: Settings(portA, portB));
        await Eventually.HoldsAsync(() => env.Admin.CoordinationV1.ReadNamespacedLeaseAsync("keyrotator-leader", ns, cancellationToken: ct),
            l => l.Spec.HolderIdentity == "replica-a", TimeSpan.FromSeconds(20), "replica-a leading", ct);
        var aStopped = false;
        await using var b = await OperatorInstance.StartAsync(env, [ns], identity: "replica-b", settings: Settings(portB, portA));
        try
        {
            await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
                .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
                .WithSpec(s => s with { SignatureFailureAlert = new Core.Model.SignatureFailureAlertSpec { Window = "2m", Threshold = 5, Ratio = 5 } })
                .Build(), ct);
            await scenario.WaitForActiveKeyAsync("auth");
            var hash = (await env.Admin.CoreV1.ReadNamespacedConfigMapAsync("auth-jwks", ns, cancellationToken: ct)).Metadata.Annotations[Labels.ContentHashAnnotation];
            var token = await ServiceAccounts.TokenAsync(env, ns, "verifier", "keyrotator", grantReporter: true);
            using var standby = new HttpClient { BaseAddress = b.BaseAddress };
            using var leader = new HttpClient { BaseAddress = a.BaseAddress };

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
            Assert.True(a.Health.IsLeader);

            // Counted once over both replicas' metrics.
            var counter = $"keyrotator_signature_failures_total{{namespace=\"{ns}\",name=\"auth\",reason=\"bad_signature\"}}";
            var total = Sum(await standby.GetStringAsync(new Uri("/metrics", UriKind.Relative), ct), counter)
                + Sum(await leader.GetStringAsync(new Uri("/metrics", UriKind.Relative), ct), counter);
            Assert.Equal(10, total);

            // Nobody else can pose as a replica.
            using (var forged = new HttpRequestMessage(HttpMethod.Post, $"/v1/namespaces/{ns}/signingkeysets/auth/signaturefailures")
            {
                Content = JsonContent.Create(new { failures = new[] { new { reason = "bad_signature", kid = "x", count = 1000 } } }),
            })
            {
                forged.Headers.Add(PeerForwarder.SecretHeader, "guess");
                forged.Headers.Add(PeerForwarder.CallerHeader, "system:serviceaccount:kube-system:admin");
                Assert.Equal(HttpStatusCode.Unauthorized, (await leader.SendAsync(forged, ct)).StatusCode);
            }

            // The leader dies; the standby takes over holding the same reports: the spike and the verifier stay.
            await a.DisposeAsync();
            aStopped = true;
            var watch = Task.Run(async () =>
            {
                var seen = new List<bool>();
                while (!b.Health.IsLeader || b.Controller.Reconciles == 0)
                {
                    seen.Add(ConditionSet.IsTrue((await scenario.GetAsync("auth")).Status?.Conditions, ConditionSet.SignatureFailureSpike));
                    await Task.Delay(200, ct);
                }

                return seen;
            }, ct);
            await Eventually.HoldsAsync(() => Task.FromResult(b.Health.IsLeader), l => l, TimeSpan.FromSeconds(20), "replica-b leading", ct);
            Assert.All(await watch, s => Assert.True(s, "the spike condition cleared during the failover"));
            // The new leader's own evaluation (its spike gauge is set only when it reconciles the set) agrees.
            b.Controller.Enqueue(new KeyRotator.Operator.Controllers.SetKey(ns, "auth"));
            await Eventually.HoldsAsync(() => standby.GetStringAsync(new Uri("/metrics", UriKind.Relative), ct),
                m => m.Contains($"keyrotator_signature_failure_spike{{namespace=\"{ns}\",name=\"auth\",reason=\"bad_signature\",kid=\"forged-kid\"}} 1", StringComparison.Ordinal),
                TimeSpan.FromSeconds(10), "the new leader's spike gauge", ct);
            var after = await scenario.GetAsync("auth");
            Assert.True(ConditionSet.IsTrue(after.Status!.Conditions, ConditionSet.SignatureFailureSpike), "the new leader still sees the spike");
            Assert.Equal(1, after.Status.Propagation!.Verifiers);
        }
        finally
        {
            if (!aStopped)
                await a.DisposeAsync();
        }
    }

    private static double Sum(string metrics, string series) =>
        metrics.Split('\n').Where(l => l.StartsWith(series + " ", StringComparison.Ordinal)).Sum(l => double.Parse(l[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture));

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
