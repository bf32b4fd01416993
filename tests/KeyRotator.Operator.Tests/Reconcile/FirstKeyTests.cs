using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Reconcile;

public sealed class FirstKeyTests(KubernetesEnvironment env)
{
    [Fact]
    public async Task New_set_pre_publishes_its_first_key_then_signs_with_it()
    {
        var ns = await env.CreateNamespaceAsync("first-key", TestContext.Current.CancellationToken);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "3s", Overlap = "20m" })
            .Build(), TestContext.Current.CancellationToken);

        var pending = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.NextKeyId is not null, TimeSpan.FromSeconds(20), "a pending key");
        var jwks = await scenario.JwksAsync("auth-jwks");
        Assert.Equal([pending.Status!.NextKeyId], jwks!.Keys.Select(k => k.Kid));
        Assert.Equal("PrePublishing", ConditionSet.Find(pending.Status.Conditions, ConditionSet.Ready)!.Reason);

        var active = await scenario.WaitForActiveKeyAsync("auth");
        Assert.Equal(pending.Status.NextKeyId, active.Status!.ActiveKeyId);
        var signing = await scenario.SigningAsync("auth-signing");
        Assert.Equal(active.Status.ActiveKeyId, signing.Kid);
        Assert.Equal("ES256", signing.Alg);
        Assert.Contains(Labels.Finalizer, active.Metadata.Finalizers);
    }
}
