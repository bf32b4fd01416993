using System.Net;
using k8s;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Chaos;

/// <summary>
/// The control plane goes away for 20 s, as during an upgrade: two real operator processes reach it
/// through a proxy that drops every connection meanwhile. A replica that does not lead never exits (it
/// retries with capped backoff and is not ready); the leader loses its Lease and exits once, as
/// controller-runtime's do, and is restarted as a pod would be. Within 10 s of the API server answering
/// again a replica leads and carries out a rotation asked for during the outage.
/// </summary>
[Collection(RealProcesses.Name)]
public sealed class ControlPlaneOutageTests(KubernetesEnvironment env)
{
    [Fact]
    public async Task Replicas_outlive_a_20_second_control_plane_outage_and_lead_and_reconcile_within_10_seconds_of_its_return()
    {
        var ct = TestContext.Current.CancellationToken;
        var plane = env.ControlPlane;
        Assert.SkipWhen(plane is null, "needs the envtest control plane (its operator credentials) to run operator processes");
        var ns = await env.CreateNamespaceAsync("outage", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var proxy = await ApiServerProxy.StartAsync(plane.Server);
        int portA = FreePort.Next(), portB = FreePort.Next();
        await using var a = new OperatorProcess(env, "replica-a", plane.WriteOperatorKubeconfig($"replica-a-{ns}", proxy.Address), [ns], port: portA);
        await using var b = new OperatorProcess(env, "replica-b", plane.WriteOperatorKubeconfig($"replica-b-{ns}", proxy.Address), [ns], port: portB);
        a.Start();
        await Eventually.HoldsAsync(() => env.Admin.CoordinationV1.ReadNamespacedLeaseAsync("keyrotator-leader", ns, cancellationToken: ct),
            l => l.Spec.HolderIdentity == "replica-a", TimeSpan.FromSeconds(60), "replica-a leading", ct);
        b.Start();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        async Task<HttpStatusCode?> ReadyAsync(OperatorProcess replica)
        {
            try
            {
                using var response = await http.GetAsync(new Uri(replica.BaseAddress!, "/readyz"), ct);
                return response.StatusCode;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                return null;
            }
        }

        await Eventually.HoldsAsync(() => ReadyAsync(b), s => s == HttpStatusCode.OK, TimeSpan.FromSeconds(60), "replica-b ready as standby", ct);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        var first = await scenario.WaitForActiveKeyAsync("auth");

        // The outage: 20 s in which nothing reaches the API server through the proxy. A rotation is asked for
        // meanwhile (straight to the API server, as a user would). A replica that exits is restarted, as the kubelet would.
        proxy.Down = true;
        var restarts = new Dictionary<string, int> { ["replica-a"] = 0, ["replica-b"] = 0 };
        var standbyNotReady = false;
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        var asked = false;
        while (DateTime.UtcNow < until)
        {
            foreach (var replica in new[] { a, b })
            {
                if (!replica.IsRunning)
                {
                    restarts[replica.Identity]++;
                    replica.Start();
                }
            }

            standbyNotReady |= await ReadyAsync(b) == HttpStatusCode.ServiceUnavailable;
            if (!asked)
            {
                await scenario.EditAsync("auth", s =>
                {
                    s.Metadata.Annotations ??= new Dictionary<string, string>();
                    s.Metadata.Annotations[KeyRotator.Operator.Kubernetes.Labels.RotateNowAnnotation] = "during-the-outage";
                }, ct);
                asked = true;
            }

            await Task.Delay(250, ct);
        }

        Assert.True(b.IsRunning, $"the standby exited during the outage:\n{b.Tail()}");
        Assert.Equal(0, restarts["replica-b"]);
        Assert.InRange(restarts["replica-a"], 0, 1);
        Assert.True(standbyNotReady, "the standby never said it was not ready while the API server could not be reached");
        Assert.True(a.IsRunning || restarts["replica-a"] == 1, a.Tail());
        if (!a.IsRunning)
            a.Start();

        // The API server answers again: within 10 s a replica leads and has rotated.
        proxy.Down = false;
        var rotated = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"),
            s => s.Status?.ActiveKeyId is { } kid && kid != first.Status!.ActiveKeyId, TimeSpan.FromSeconds(10), "the rotation asked for during the outage", ct);
        var lease = await env.Admin.CoordinationV1.ReadNamespacedLeaseAsync("keyrotator-leader", ns, cancellationToken: ct);
        Assert.True(lease.Spec.HolderIdentity is "replica-a" or "replica-b", lease.Spec.HolderIdentity);
        Assert.NotEqual(first.Status!.ActiveKeyId, rotated.Status!.ActiveKeyId);
        Assert.True(a.IsRunning && b.IsRunning, $"{a.Tail()}\n{b.Tail()}");
        Assert.DoesNotContain(b.Output(), l => l.Contains("Leader election failed", StringComparison.Ordinal));
    }
}
