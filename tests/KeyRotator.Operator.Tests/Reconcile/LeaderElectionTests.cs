using k8s;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Reconcile;

public sealed class LeaderElectionTests(KubernetesEnvironment env)
{
    // OperatorInstance.FastFailover: LeaseDuration 6 s, RenewDeadline 4 s.
    private static readonly TimeSpan LeaseDuration = TimeSpan.FromSeconds(6);

    [Fact]
    public async Task Only_the_leader_reconciles_and_a_standby_takes_over_only_once_the_lease_ran_out()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("leader", ct);
        var scenario = new OperatorScenario(env, ns);
        var handlerA = new CrashingHandler(_ => false);
        var handlerB = new CrashingHandler(_ => false);
        var a = await OperatorInstance.StartAsync(env, [ns], identity: "operator-a", settings: OperatorInstance.FastFailover, handlers: [handlerA]);
        var b = await OperatorInstance.StartAsync(env, [ns], identity: "operator-b", settings: OperatorInstance.FastFailover, handlers: [handlerB]);
        try
        {
            await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
                .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
                .Build(), ct);
            var before = await scenario.WaitForActiveKeyAsync("auth");

            var holder = (await env.Admin.CoordinationV1.ReadNamespacedLeaseAsync("keyrotator-leader", ns, cancellationToken: ct)).Spec.HolderIdentity;
            var (leader, standby, leaderHandler) = holder == "operator-a" ? (a, b, handlerA) : (b, a, handlerB);
            Assert.True(leader.Controller.Reconciles > 0, "the leader reconciles");
            Assert.Equal(0, standby.Controller.Reconciles);
            Assert.True(standby.Health.Ready().Ok, "a standby with live watches is ready");

            leaderHandler.Kill();
            var lastRenewed = (await env.Admin.CoordinationV1.ReadNamespacedLeaseAsync("keyrotator-leader", ns, cancellationToken: ct)).Spec.RenewTime!.Value;
            var taken = await Eventually.HoldsAsync(() => env.Admin.CoordinationV1.ReadNamespacedLeaseAsync("keyrotator-leader", ns, cancellationToken: ct),
                l => l.Spec.HolderIdentity == standby.Identity, TimeSpan.FromSeconds(60), "the standby taking the lease", ct);
            // Never before the lease the old leader last renewed had run out (the Lease's own record, not the test's clock).
            Assert.True(taken.Spec.AcquireTime >= lastRenewed + LeaseDuration,
                $"acquired at {taken.Spec.AcquireTime:O}, the old leader last renewed at {lastRenewed:O} for {LeaseDuration}");
            await Eventually.HoldsAsync(() => Task.FromResult(standby.Controller.WorkersRunning), r => r, TimeSpan.FromSeconds(5), "the new leader's workers", ct);

            // The old leader, unable to renew, stopped its workers by itself.
            await Eventually.HoldsAsync(() => Task.FromResult(leader.Controller.WorkersRunning), r => !r, TimeSpan.FromSeconds(5), "the old leader stopping work", ct);
            Assert.False(leader.Health.IsLeader);

            // The new leader finishes a rotation, once.
            var set = await scenario.GetAsync("auth");
            await scenario.EditAsync(set.Metadata.Name, s => s.Metadata.Annotations = new Dictionary<string, string> { [Labels.RotateNowAnnotation] = "after-takeover" }, ct);
            var after = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"),
                s => s.Status?.ActiveKeyId is { } kid && kid != before.Status!.ActiveKeyId, TimeSpan.FromSeconds(20), "a rotation by the new leader");
            Assert.Equal([1L, 2L], after.Status!.Keys!.Select(k => k.Generation).Order());
            var vault = await env.Admin.CoreV1.ReadNamespacedSecretAsync("auth-keyrotator-keys", ns, cancellationToken: ct);
            Assert.Equal(2, vault.Data.Count);
        }
        finally
        {
            await a.DisposeAsync();
            await b.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_leader_stopped_gracefully_hands_the_Lease_to_the_standby_without_waiting_for_it_to_expire()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("handover", ct);
        var scenario = new OperatorScenario(env, ns);
        // The shipped timings (15 s lease, 2 s retry): an expiry would show as a wait of 13 s or more.
        var shippedLease = TimeSpan.FromSeconds(15);
        await using var a = await OperatorInstance.StartAsync(env, [ns], identity: "operator-a");
        await using var b = await OperatorInstance.StartAsync(env, [ns], identity: "operator-b");
        var held = await Eventually.HoldsAsync(() => env.Admin.CoordinationV1.ReadNamespacedLeaseAsync("keyrotator-leader", ns, cancellationToken: ct),
            l => l.Spec.HolderIdentity is "operator-a" or "operator-b", TimeSpan.FromSeconds(30), "a leader", ct);
        var (leader, standby) = held.Spec.HolderIdentity == "operator-a" ? (a, b) : (b, a);
        await Eventually.HoldsAsync(() => Task.FromResult(standby.Health.Ready().Ok), r => r, TimeSpan.FromSeconds(30), "the standby ready", ct);
        var lastRenewed = (await env.Admin.CoordinationV1.ReadNamespacedLeaseAsync("keyrotator-leader", ns, cancellationToken: ct)).Spec.RenewTime!.Value;

        await leader.StopAsync();
        Assert.Contains(leader.Logs.Lines, l => l.Contains("released Lease", StringComparison.Ordinal));
        var taken = await Eventually.HoldsAsync(() => env.Admin.CoordinationV1.ReadNamespacedLeaseAsync("keyrotator-leader", ns, cancellationToken: ct),
            l => l.Spec.HolderIdentity == standby.Identity, TimeSpan.FromSeconds(30), "the standby taking the Lease", ct);
        Assert.True(taken.Spec.AcquireTime < lastRenewed + shippedLease,
            $"acquired at {taken.Spec.AcquireTime:O}, the old leader last renewed at {lastRenewed:O}: the standby waited for the lease to expire");
        Assert.Equal(held.Spec.LeaseTransitions + 1, taken.Spec.LeaseTransitions);

        // The new leader reconciles.
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        await scenario.WaitForActiveKeyAsync("auth");
        Assert.True(standby.Controller.Reconciles > 0);
    }
}
