using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Observability;
using KeyRotator.Operator.Publishing;
using Xunit;
using static KeyRotator.Reconciler.Tests.ReconcileWorld;
using static KeyRotator.Reconciler.Tests.TransitionTests;

namespace KeyRotator.Reconciler.Tests;

/// <summary>
/// The transitions driven by what verifiers and signers report (Confirmed activation, automatic
/// rollback, the spike condition), given to the real reconciler through the trackers the HTTP endpoints feed.
/// </summary>
public sealed class SignalTests
{
    [Fact]
    public async Task Confirmed_activation_waits_for_a_verifier_that_lacks_the_next_key_and_activates_once_it_holds_it()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly().WithRotation(r => r with { Interval = "1h", PrePublish = "10m", Overlap = "20m", Activation = "Confirmed", MaxActivationDelay = "30m" }));
        var first = await world.ConvergeAsync();
        var rotation = world.Set().Status!.NextRotationTime!.Value;

        world.Time.SetUtcNow(rotation - TimeSpan.FromMinutes(10));
        var held = VerifierFetches(world, "web");
        await world.ReconcileAsync();
        var next = world.Set().Status!.NextKeyId!;

        // Due, but the verifier heard last holds a JWKS without the next key: signing stays on the first key.
        world.Time.SetUtcNow(rotation);
        VerifierHolds(world, "web", held);
        await world.ReconcileAsync();
        Assert.Equal((first, next), world.Signing());
        var rotating = world.Condition(ConditionSet.Rotating);
        Assert.Equal("WaitingForVerifiers", rotating?.Reason);
        Assert.Contains("web", rotating!.Message, StringComparison.Ordinal);

        // It fetches the current JWKS: the next key signs.
        VerifierFetches(world, "web");
        await world.ReconcileAsync();
        Assert.Equal((next, null), world.Signing());
    }

    [Fact]
    public async Task An_unknown_kid_spike_on_the_new_key_rolls_signing_back_to_the_previous_key()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly().WithSpec(s => s with { SignatureFailureAlert = new SignatureFailureAlertSpec { Window = "5m", Threshold = 10 } }));
        var first = await world.ConvergeAsync();
        var rotation = world.Set().Status!.NextRotationTime!.Value;
        world.Time.SetUtcNow(rotation - TimeSpan.FromMinutes(10));
        var old = VerifierFetches(world, "web");
        await world.ReconcileAsync();
        world.Time.SetUtcNow(rotation);
        VerifierHolds(world, "web", old);
        await world.ReconcileAsync();
        var next = world.Set().Status!.ActiveKeyId!;
        Assert.NotEqual(first, next);

        world.Time.Advance(TimeSpan.FromMinutes(1));
        VerifierHolds(world, "web", old);
        world.Service<SignatureFailureTracker>().Record(Ns, Name, world.Set().Spec.SignatureFailureAlert, "unknown_kid", next, 50);
        await world.ReconcileAsync();

        Assert.Equal(first, world.Signing().Kid);
        Assert.Contains(next, world.JwksKids()!);
        var rolledBack = world.Condition(ConditionSet.RolledBack);
        Assert.Equal(("True", "UnknownKidSpike"), (rolledBack?.Status, rolledBack?.Reason));
        world.AssertEvent("Warning RolledBack");
    }

    [Fact]
    public async Task A_spike_of_reported_failures_sets_the_condition_and_clears_once_the_window_is_quiet()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly().WithSpec(s => s with { SignatureFailureAlert = new SignatureFailureAlertSpec { Window = "5m", Threshold = 10 } }));
        await world.ConvergeAsync();

        world.Service<SignatureFailureTracker>().Record(Ns, Name, world.Set().Spec.SignatureFailureAlert, "bad_signature", null, 40);
        var result = await world.ReconcileAsync();
        Assert.Equal(("True", Reasons.SpikeDetected), (world.Condition(ConditionSet.SignatureFailureSpike)?.Status, world.Condition(ConditionSet.SignatureFailureSpike)?.Reason));
        world.AssertEvent("Warning SignatureFailureSpike");
        Assert.True(result.WakeAt <= world.Time.GetUtcNow() + TimeSpan.FromSeconds(30), "while failures spike the set is looked at again soon");

        world.Time.Advance(TimeSpan.FromMinutes(6));
        await world.ReconcileAsync();
        Assert.Equal(("False", Reasons.NoSpike), (world.Condition(ConditionSet.SignatureFailureSpike)?.Status, world.Condition(ConditionSet.SignatureFailureSpike)?.Reason));
    }

    /// <summary>A verifier fetches the JWKS published now and hashes it as KeyRotator.Client does; the content hash it holds.</summary>
    private static string VerifierFetches(ReconcileWorld world, string identity)
    {
        var cm = world.Api.Stored<V1ConfigMap>(Ns, $"{Name}-jwks")!;
        var hash = JwksDocument.ContentHashOf(cm.Data[JwksPublisher.JwksKey]);
        VerifierHolds(world, identity, hash);
        return hash;
    }

    /// <summary>A verifier reports (again) that it holds the JWKS with this hash.</summary>
    private static void VerifierHolds(ReconcileWorld world, string identity, string hash) =>
        world.Service<PropagationTracker>().ObserveVerifier(Ns, Name, identity, hash);
}
