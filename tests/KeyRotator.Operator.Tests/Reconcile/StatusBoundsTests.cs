using System.Net;
using k8s.Autorest;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Resources;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Reconcile;

/// <summary>
/// Issue #32, item 4: a status message a team can make long is bounded, so the status is always written.
/// The API server refuses a condition message over the CRD's 32,768 characters; before the fix a set
/// with thousands of skipped copies (or an API answer embedded whole) never showed any status.
/// </summary>
public sealed class StatusBoundsTests(KubernetesEnvironment env)
{
    [Fact]
    public async Task A_set_skipping_a_hundred_copies_shows_its_status_with_the_message_cut_and_counted()
    {
        var ct = TestContext.Current.CancellationToken;
        var victim = await env.CreateNamespaceAsync("bounds-victim", ct);
        var attacker = await env.CreateNamespaceAsync("bounds-attacker", ct);
        var scenario = new OperatorScenario(env, attacker);
        await using var op = await OperatorInstance.StartAsync(env, [victim, attacker]);

        // Team B lists team A's namespace (which never opted in) and as many long made-up names as the schema allows.
        List<string> targets = [victim, .. Enumerable.Range(0, SpecBounds.MaxTargetNamespaces - 1).Select(i => $"made-up-{i:D3}-{new string('x', 50)}")];
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", attacker)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { Jwks = new JwksSpec { TargetNamespaces = targets } })
            .Build(), ct);

        var set = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"),
            s => ConditionSet.Find(s.Status?.Conditions, ConditionSet.Degraded)?.Reason == Reasons.CopiesSkipped && s.Status!.ActiveKeyId is not null,
            TimeSpan.FromSeconds(30), "Degraded=CopiesSkipped and a key that signs", ct);

        Assert.Equal(SpecBounds.MaxTargetNamespaces, set.Status!.SkippedTargets!.Count);
        var degraded = ConditionSet.Find(set.Status.Conditions, ConditionSet.Degraded)!;
        Assert.StartsWith($"{SpecBounds.MaxTargetNamespaces} of spec.jwks.targetNamespaces hold no JWKS copy", degraded.Message, StringComparison.Ordinal);
        Assert.Matches(@" … and \d+ more$", degraded.Message);
        Assert.True(degraded.Message.Length <= StatusMessage.MaxConditionLength, $"{degraded.Message.Length} characters");
        Assert.NotNull(set.Status.ActiveKeyId);

        // What the bound protects against: the API server refuses a condition message over the CRD's maximum.
        set.Status = set.Status with
        {
            Conditions = [.. set.Status.Conditions!, new Condition { Type = "Probe", Status = "True", Reason = "Probe", Message = new string('m', 32_769), LastTransitionTime = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero) }],
        };
        var refused = await Assert.ThrowsAsync<HttpOperationException>(() => scenario.Sets.ReplaceStatusAsync(set, ct));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.Response.StatusCode);
    }
}
