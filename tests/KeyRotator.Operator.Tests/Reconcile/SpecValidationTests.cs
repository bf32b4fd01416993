using KeyRotator.Core.Lifecycle;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Reconcile;

public sealed class SpecValidationTests(KubernetesEnvironment env)
{
    [Fact]
    public async Task Invalid_spec_gets_InvalidSpec_with_an_actionable_message_and_an_Event_while_other_sets_proceed()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("invalid-spec", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);

        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("short-overlap", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s", Overlap = "5m" })
            .WithSpec(s => s with { MaxTokenLifetime = "15m", ClockSkew = "1m" })
            .Build(), ct);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("bad-cron", ns)
            .WithRotation(r => r with { Interval = null, Cron = "every monday at 3", PrePublish = "1s" })
            .Build(), ct);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("fine", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .Build(), ct);

        var invalid = await Eventually.HoldsAsync(() => scenario.GetAsync("short-overlap"),
            s => ConditionSet.Find(s.Status?.Conditions, ConditionSet.Ready)?.Reason == "InvalidSpec", TimeSpan.FromSeconds(20), "InvalidSpec on short-overlap");
        var ready = ConditionSet.Find(invalid.Status!.Conditions, ConditionSet.Ready)!;
        Assert.Equal("False", ready.Status);
        Assert.Contains("raise overlap to at least 16m1s", ready.Message, StringComparison.Ordinal);
        Assert.Equal(invalid.Metadata.Generation, invalid.Status.ObservedGeneration);

        var cron = await Eventually.HoldsAsync(() => scenario.GetAsync("bad-cron"),
            s => ConditionSet.Find(s.Status?.Conditions, ConditionSet.Ready)?.Reason == "InvalidSpec", TimeSpan.FromSeconds(20), "InvalidSpec on bad-cron");
        Assert.Contains("is not a Quartz cron expression", ConditionSet.Find(cron.Status!.Conditions, ConditionSet.Ready)!.Message, StringComparison.Ordinal);

        await scenario.WaitForActiveKeyAsync("fine");
        var events = await Eventually.HoldsAsync(() => scenario.EventsAsync("short-overlap"), e => e.Any(x => x.Reason == "InvalidSpec"), TimeSpan.FromSeconds(10), "an InvalidSpec Event");
        Assert.Equal("Warning", events.First(e => e.Reason == "InvalidSpec").Type);
        Assert.Null(await scenario.JwksAsync("short-overlap-jwks"));

        // Fixing the spec recovers without a restart.
        var fixedSet = await scenario.GetAsync("short-overlap");
        await scenario.EditAsync(fixedSet.Metadata.Name, s => s.Spec = s.Spec with { Rotation = s.Spec.Rotation with { Overlap = "20m" } }, ct);
        await scenario.WaitForActiveKeyAsync("short-overlap");

        // One Event per distinct problem, not one per reconcile (no hot loop).
        Assert.Single(await scenario.EventsAsync("short-overlap"), e => e.Reason == "InvalidSpec");
    }
}
