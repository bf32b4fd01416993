using k8s;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Chaos;

/// <summary>
/// Split brain: the leader's Lease requests are held unanswered (a partition between one replica and
/// its Lease) while the rest of its API traffic flows. It must stop writing before the lease it last
/// renewed could pass to the other replica; the other replica takes over. The cut-off replica does not
/// exit: it competes again as a standby, and writes nothing while the other leads.
/// </summary>
[Collection(RealProcesses.Name)]
public sealed class SplitBrainTests(KubernetesEnvironment env)
{
    // OperatorInstance.FastFailover: LeaseDuration 6 s, RenewDeadline 4 s, RetryPeriod 1 s.
    private static readonly TimeSpan LeaseDuration = TimeSpan.FromSeconds(6);

    [Fact]
    public async Task A_leader_cut_off_from_its_Lease_makes_no_write_after_the_lease_duration_and_the_other_replica_takes_over()
    {
        var ct = TestContext.Current.CancellationToken;
        var plane = env.ControlPlane;
        Assert.SkipWhen(plane is null, "needs the envtest control plane (its operator credentials) to run operator processes");
        var ns = await env.CreateNamespaceAsync("split", ct);
        var scenario = new OperatorScenario(env, ns);

        await using var proxyA = await ApiServerProxy.StartAsync(plane.Server);
        await using var proxyB = await ApiServerProxy.StartAsync(plane.Server);
        await using var a = new OperatorProcess(env, "replica-a", plane.WriteOperatorKubeconfig($"replica-a-{ns}", proxyA.Address), [ns], OperatorInstance.FastFailover);
        await using var b = new OperatorProcess(env, "replica-b", plane.WriteOperatorKubeconfig($"replica-b-{ns}", proxyB.Address), [ns], OperatorInstance.FastFailover);

        a.Start();
        await WaitForHolderAsync(ns, a, TimeSpan.FromSeconds(60), ct);
        b.Start();
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .Build(), ct);
        var first = await scenario.WaitForActiveKeyAsync("auth");
        Assert.Contains(proxyA.Writes, w => w.Path.EndsWith("/signingkeysets/auth/status", StringComparison.Ordinal));

        // The partition: A's Lease requests go unanswered; its reads, watches and writes still flow.
        var cut = DateTimeOffset.UtcNow;
        proxyA.BlockLeases = true;

        // Give A every reason to write, before and after its lease runs out: rotate now, again and again.
        for (var i = 0; i < 10; i++)
        {
            await AnnotateRotateNowAsync(scenario, $"partition-{i}", ct);
            await Task.Delay(TimeSpan.FromSeconds(1.5), ct);
        }

        await Eventually.HoldsAsync(() => Task.FromResult(a.Output()), o => o.Any(l => l.Contains("lost the Lease", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(30), "replica-a saying it lost the Lease and stopped all work", ct);
        Assert.True(a.IsRunning, $"replica-a exited after losing its Lease:\n{a.Tail()}");
        Assert.Contains(a.Output(), l => l.Contains("stopped all work; competing again", StringComparison.Ordinal));

        var late = proxyA.Writes.Where(w => !w.IsLease && w.At > cut + LeaseDuration).ToList();
        Assert.True(late.Count == 0,
            $"replica-a wrote after the lease it last renewed (before {cut:HH:mm:ss.fff}) had run out:\n" +
            string.Join('\n', late.Select(w => $"{w.At:HH:mm:ss.fff} {w.Method} {w.Path}")));

        // B holds the Lease and carries the set on: a rotation asked for now completes, with no generation twice.
        await WaitForHolderAsync(ns, b, TimeSpan.FromSeconds(30), ct);
        var before = await scenario.GetAsync("auth");
        var after = await scenario.RotateNowAsync("auth", before.Status!.ActiveKeyId!, ct);
        Assert.Contains(proxyB.Writes, w => !w.IsLease && w.Path.EndsWith("/signingkeysets/auth/status", StringComparison.Ordinal));
        var generations = after.Status!.Keys!.Select(k => k.Generation).ToList();
        Assert.Equal(generations.Distinct().Count(), generations.Count);
        Assert.True(after.Status.Keys!.Max(k => k.Generation) > first.Status!.Keys!.Max(k => k.Generation));
        var jwks = (await scenario.JwksAsync("auth-jwks"))!;
        Assert.Equal(after.Status.ActiveKeyId, jwks.Keys[0].Kid);
        Assert.Equal(after.Status.ActiveKeyId, (await scenario.SigningAsync("auth-signing")).Kid);

        // The partition heals: A competes as a standby and, while B leads, still writes nothing but Lease requests.
        proxyA.BlockLeases = false;
        await scenario.RotateNowAsync("auth", after.Status.ActiveKeyId!, ct);
        Assert.True(a.IsRunning, a.Tail());
        Assert.Equal(1, a.Starts);
        Assert.DoesNotContain(proxyA.Writes, w => !w.IsLease && w.At > cut + LeaseDuration);
        Assert.Equal(b.Identity, (await env.Admin.CoordinationV1.ReadNamespacedLeaseAsync("keyrotator-leader", ns, cancellationToken: ct)).Spec.HolderIdentity);
    }

    private static async Task AnnotateRotateNowAsync(OperatorScenario scenario, string value, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            var set = await scenario.GetAsync("auth");
            set.Metadata.Annotations ??= new Dictionary<string, string>();
            set.Metadata.Annotations[Labels.RotateNowAnnotation] = value;
            try
            {
                await scenario.Sets.ReplaceAsync(set, ct);
                return;
            }
            catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.Conflict && attempt < 5)
            {
            }
        }
    }

    private async Task WaitForHolderAsync(string ns, OperatorProcess replica, TimeSpan timeout, CancellationToken ct)
    {
        try
        {
            await Eventually.HoldsAsync(
                () => env.Admin.CoordinationV1.ReadNamespacedLeaseAsync("keyrotator-leader", ns, cancellationToken: ct),
                l => l.Spec.HolderIdentity == replica.Identity, timeout, $"{replica.Identity} holding the Lease", ct);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}\n{replica.Identity}'s output:\n{replica.Tail()}", e);
        }
    }
}
