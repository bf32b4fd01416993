using System.Net;
using System.Text;
using k8s;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Publishing;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Chaos;

/// <summary>
/// The control plane goes away for a minute, as during an upgrade: first it hangs (30 s in which nothing
/// is answered and watches stall), then it is down (20 s in which every connection is refused), while sets
/// rotate every 20 s. Two real operator processes reach it through a proxy; the test itself reads and
/// writes the API server directly, as a user would. No replica exits (the leader's term ends when it cannot
/// renew, it stops writing and competes again), every set rotates again afterwards with every invariant
/// held (<see cref="InvariantWatcher"/>), and a revocation made right after the API server answers again is
/// applied within 10 s.
/// </summary>
[Collection(RealProcesses.Name)]
public sealed class ControlPlaneOutageTests(KubernetesEnvironment env)
{
    private static readonly TimeSpan HangFor = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan DownFor = TimeSpan.FromSeconds(20);

    [Fact]
    [Trait("Category", "Timing")] // a timing guarantee of the product, measured: see CONTRIBUTING.md, "Timing tests"
    public async Task A_30_second_hang_then_20_seconds_down_ends_no_process_breaks_no_invariant_and_a_revocation_after_it_lands_within_10_seconds()
    {
        var ct = TestContext.Current.CancellationToken;
        var plane = env.ControlPlane;
        Assert.SkipWhen(plane is null, "needs the envtest control plane (its operator credentials) to run operator processes");
        var ns = await env.CreateNamespaceAsync("outage", ct);
        var target = await env.CreateNamespaceAcceptingJwksFromAsync("outage-copy", ns, ct);
        var scenario = new OperatorScenario(env, ns);
        var rotating = new[]
        {
            ChaosPolicy.Set("copy", ns, "ES256").WithSpec(s => s with { Jwks = new JwksSpec { TargetNamespaces = [target] } }),
            ChaosPolicy.Set("rsa", ns, "RS256", 2048),
            ChaosPolicy.Set("plain", ns, "ES256"),
        }.Select(b => b.Build()).ToList();

        await using var proxy = await ApiServerProxy.StartAsync(plane.Server);
        await using var a = new OperatorProcess(env, "replica-a", plane.WriteOperatorKubeconfig($"replica-a-{ns}", proxy.Address), [ns, target], OperatorInstance.FastFailover, FreePort.Next());
        await using var b = new OperatorProcess(env, "replica-b", plane.WriteOperatorKubeconfig($"replica-b-{ns}", proxy.Address), [ns, target], OperatorInstance.FastFailover, FreePort.Next());
        var watcher = new InvariantWatcher(env.Admin, ns, target, [.. rotating.Select(s => s.Metadata.Name)]);
        using var stopWatching = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var watching = Task.Run(() => watcher.RunAsync(stopWatching.Token), CancellationToken.None);

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
        var client = new SigningKeySetClient(env.Admin);
        foreach (var set in rotating)
            await client.CreateAsync(set, ct);
        await client.CreateAsync(SigningKeySetBuilder.Named("revoke-me", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        foreach (var set in rotating)
            await scenario.WaitForActiveKeyAsync(set.Metadata.Name, TimeSpan.FromSeconds(90));
        var compromised = (await scenario.WaitForActiveKeyAsync("revoke-me")).Status!.ActiveKeyId!;
        var generationsBefore = rotating.ToDictionary(s => s.Metadata.Name, s => watcher.GenerationsOf(s.Metadata.Name).Count);

        // The outage, watched every 250 ms: no replica may exit at any point (none is restarted here).
        var exits = new List<string>();
        var notReadyWhileDown = false;
        var notReadyWhileHung = false;
        async Task OutageAsync(TimeSpan length)
        {
            var until = DateTime.UtcNow + length;
            while (DateTime.UtcNow < until)
            {
                foreach (var replica in new[] { a, b })
                {
                    if (!replica.IsRunning && !exits.Contains(replica.Identity))
                        exits.Add($"{replica.Identity} at {DateTime.UtcNow:HH:mm:ss.fff}:\n{replica.Tail()}");
                }

                var ready = await ReadyAsync(b);
                notReadyWhileDown |= proxy.Down && ready == HttpStatusCode.ServiceUnavailable;
                notReadyWhileHung |= proxy.Hang && !proxy.Down && ready == HttpStatusCode.ServiceUnavailable;
                await Task.Delay(250, ct);
            }
        }

        proxy.Hang = true;
        await OutageAsync(HangFor);
        proxy.Down = true;
        await OutageAsync(DownFor);
        Assert.True(exits.Count == 0, $"operator processes exited during the outage:\n{string.Join('\n', exits)}");
        Assert.True(notReadyWhileDown, $"the standby never said it was not ready while the API server could not be reached:\n{b.Tail(40)}");
        Assert.True(notReadyWhileHung, $"the standby never said it was not ready while the API server hung:\n{b.Tail(40)}");

        // The API server answers again; the revocation is made at once and must be applied within 10 s.
        proxy.Down = false;
        await scenario.EditAsync("revoke-me", s => s.Spec = s.Spec with { RevokedKeyIds = [compromised] }, ct);
        await Eventually.HoldsAsync(async () => (await scenario.JwksAsync("revoke-me-jwks"), await scenario.SigningAsync("revoke-me-signing")),
            o => o.Item1 is { } jwks && jwks.Keys.All(k => k.Kid != compromised) && o.Item2.Kid is { } kid && kid != compromised,
            TimeSpan.FromSeconds(10), "the revocation made right after the outage reaching the JWKS and the signing Secret", ct);

        // Every set rotates again (two more generations than before the outage) and converges; the
        // watcher, which read the API server directly throughout, saw no invariant broken.
        foreach (var set in rotating)
        {
            var name = set.Metadata.Name;
            await Eventually.HoldsAsync(async () => (await scenario.GetAsync(name), (await env.Admin.CoreV1.ReadNamespacedSecretAsync($"{name}-signing", ns, cancellationToken: ct)).Data),
                x => watcher.GenerationsOf(name).Count >= generationsBefore[name] + 2
                    && x.Item1.Status?.ActiveKeyId is { } kid && ConditionSet.IsTrue(x.Item1.Status.Conditions, ConditionSet.Ready)
                    && Encoding.UTF8.GetString(x.Data[SigningSecretPublisher.KidKey]) == kid,
                TimeSpan.FromSeconds(90), $"{name} rotating again after the outage", ct);
        }

        await stopWatching.CancelAsync();
        await watching;
        var context = $"\n{watcher.Report()}\nreplica-a:\n{a.Tail(20)}\nreplica-b:\n{b.Tail(20)}";
        Assert.True(watcher.Violations.IsEmpty, $"invariants broken:\n{string.Join('\n', watcher.Violations.Take(30))}{context}");
        Assert.True(a.IsRunning && b.IsRunning, context);
        Assert.Equal(1, a.Starts);
        Assert.Equal(1, b.Starts);
        Assert.DoesNotContain(a.Output().Concat(b.Output()), l => l.Contains("Leader election failed", StringComparison.Ordinal));
        Assert.Contains(a.Output().Concat(b.Output()), l => l.Contains("competing again", StringComparison.Ordinal));
    }
}
