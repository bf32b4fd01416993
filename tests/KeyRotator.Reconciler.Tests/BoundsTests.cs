using System.Net;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Resources;
using KeyRotator.Testing;
using Xunit;
using static KeyRotator.Reconciler.Tests.ReconcileWorld;
using static KeyRotator.Reconciler.Tests.TransitionTests;

namespace KeyRotator.Reconciler.Tests;

/// <summary>
/// Issue #32, item 2 and 4: a spec past its bounds is held before it costs a request, and no message a
/// team can make long (a long list, the API server's answer) keeps the set from showing its status.
/// </summary>
public sealed class BoundsTests
{
    [Fact]
    public async Task A_set_listing_5000_target_namespaces_is_held_naming_the_field_and_maximum_without_reading_a_namespace()
    {
        await using var world = new ReconcileWorld();
        var namespaces = Enumerable.Range(0, 5000).Select(i => $"victim-{i}").ToList();
        world.Apply(Hourly().WithSpec(s => s with { Jwks = new JwksSpec { TargetNamespaces = namespaces } }));
        var namespaceReads = 0;
        world.Api.Refuse(r =>
        {
            if (r.Kind == "Namespace")
                namespaceReads++;
            return null;
        });

        var writes = await world.WritesOfOneReconcileAsync();

        var ready = world.Condition(ConditionSet.Ready);
        Assert.Equal(("False", Reasons.InvalidSpec), (ready?.Status, ready?.Reason));
        Assert.Contains($"spec.jwks.targetNamespaces has 5000 entries; at most {SpecBounds.MaxTargetNamespaces} are allowed", ready!.Message, StringComparison.Ordinal);
        Assert.Equal(0, namespaceReads);
        Assert.DoesNotContain(writes, w => w.StartsWith("create ConfigMap", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_api_answer_of_100000_characters_still_leaves_a_status_with_a_truncated_message()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly());
        var huge = "quota says no: " + new string('x', 100_000);
        world.Api.Refuse(r => r.Kind == "Secret" && r.Name == "auth-signing" && r.Verb is "create" or "replace" ? HttpStatusCode.UnprocessableEntity : null, huge);

        await world.ReconcileAsync();
        world.Time.Advance(TimeSpan.FromMinutes(10)); // the first key's signing Secret is written when it activates
        await world.ReconcileAsync();
        await world.ReconcileAsync();

        // The status write was accepted (the in-memory API server refuses a condition message over the CRD's maxLength, as the real one does).
        var degraded = world.Condition(ConditionSet.Degraded);
        Assert.Equal(("True", Reasons.PublishFailed), (degraded?.Status, degraded?.Reason));
        Assert.Contains("quota says no: xxx", degraded!.Message, StringComparison.Ordinal);
        Assert.Contains("(truncated", degraded.Message, StringComparison.Ordinal);
        Assert.True(degraded.Message.Length <= StatusMessage.MaxConditionLength, $"{degraded.Message.Length} characters");
        Assert.All(world.Api.Events, e => Assert.True(e.Message.Length <= StatusMessage.MaxEventLength));
        Assert.Single(world.Api.Events, e => e.Reason == Reasons.PublishFailed);
    }
}
