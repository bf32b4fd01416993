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
}
