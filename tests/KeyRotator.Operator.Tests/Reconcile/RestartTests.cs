using k8s;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Reconcile;

public sealed class RestartTests(KubernetesEnvironment env)
{
    [Fact]
    public async Task Restarted_operator_recomputes_due_times_from_status_and_neither_rotates_early_nor_twice()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("restart", ct);
        var scenario = new OperatorScenario(env, ns);
        var first = await OperatorInstance.StartAsync(env, [ns]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s", Jitter = "10m" })
            .Build(), ct);
        var before = await scenario.WaitForActiveKeyAsync("auth");
        using (var http = new HttpClient { BaseAddress = first.BaseAddress })
        {
            Assert.Equal("ok", await http.GetStringAsync(new Uri("/healthz", UriKind.Relative), ct));
            Assert.StartsWith("ok", await http.GetStringAsync(new Uri("/readyz", UriKind.Relative), ct), StringComparison.Ordinal);
        }

        // A graceful stop hands the Lease over (no holder, once no worker runs), so the next replica
        // leads at once instead of waiting out the 15 s lease.
        await first.DisposeAsync();
        var lease = await env.Admin.CoordinationV1.ReadNamespacedLeaseAsync("keyrotator-leader", ns, cancellationToken: ct);
        Assert.Null(lease.Spec.HolderIdentity);
        await using var second = await OperatorInstance.StartAsync(env, [ns]);
        await Eventually.HoldsAsync(() => Task.FromResult(second.Controller.Reconciles), r => r > 0, TimeSpan.FromSeconds(15), "the new operator reconciling", ct);
        await second.WaitForQuietQueueAsync(ct);

        var after = await scenario.GetAsync("auth");
        Assert.Equal(KubernetesJson.Serialize(before.Status), KubernetesJson.Serialize(after.Status));
        Assert.Equal(before.Status!.NextRotationTime, after.Status!.NextRotationTime);
        Assert.True(after.Status.NextRotationTime >= after.Status.LastRotationTime!.Value.AddHours(1), "jitter only ever delays a rotation");
        Assert.Single(after.Status.Keys!);
    }
}
