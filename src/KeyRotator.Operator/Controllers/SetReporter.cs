using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Observability;

namespace KeyRotator.Operator.Controllers;

/// <summary>
/// The report step, and the only writer of a set's status, its Events and its per-set metrics. The
/// planner composes Ready, Rotating, RolledBack and PropagationIncomplete into the plan's status; this
/// class adds Degraded and SignatureFailureSpike, sets Ready=False on a hold, writes status only when it
/// changed, and records a Warning Event once per distinct failure.
/// </summary>
public sealed class SetReporter(SetClient sets, EventRecorder events, OperatorMetrics metrics, PropagationTracker propagation, TimeProvider time)
{
    /// <summary>
    /// Nothing may move forward (an invalid spec, a name conflict, a vault not granted): status says why
    /// (Ready=False), with the revocations and retirements that still happened.
    /// </summary>
    public async Task HeldAsync(V1Alpha1SigningKeySet set, Withdrawal withdrawal, StepFailure failure, CancellationToken cancellationToken)
    {
        failure = Bounded(failure);
        var (ns, name, generation) = Identify(set);
        var previous = ConditionSet.Find(set.Status?.Conditions, ConditionSet.Ready);
        var status = withdrawal.Status with
        {
            ObservedGeneration = generation,
            Conditions = ConditionSet.Set(withdrawal.Status.Conditions, ConditionSet.Ready, false, failure.Reason, failure.Message, generation, time.GetUtcNow()),
        };
        await sets.WriteStatusAsync(set, status, cancellationToken);
        metrics.ObserveSet(ns, name, status);
        foreach (var planEvent in withdrawal.Events)
            await events.RecordAsync(set, planEvent, cancellationToken);
        if (previous?.Reason != failure.Reason || previous.Message != failure.Message)
        {
            var stage = failure.Reason is Reasons.InvalidSpec or Reasons.VaultNotGranted or Reasons.LibraryNotAllowed ? "validation" : "publish";
            metrics.RotationErrors.WithLabels(ns, name, stage).Inc();
            await events.RecordAsync(set, PlanEvent.Warning(failure.Reason, failure.Message), cancellationToken);
        }
    }

    /// <summary>The vault, reading signer material or writing a JWKS copy failed: safety still happened, status says what failed.</summary>
    public async Task DegradedAsync(V1Alpha1SigningKeySet set, Withdrawal withdrawal, StepFailure failure, CancellationToken cancellationToken)
    {
        failure = Bounded(failure);
        var (ns, name, generation) = Identify(set);
        metrics.RotationErrors.WithLabels(ns, name, failure.Reason == Reasons.PublishFailed ? "publish" : "vault").Inc();
        var previous = ConditionSet.Find(set.Status?.Conditions, ConditionSet.Degraded);
        var status = WithDegraded(withdrawal.Status, failure, [], generation);
        if (ConditionSet.Find(status.Conditions, ConditionSet.Ready) is not { Status: "True" })
        {
            // A set that does not sign yet is not Ready because of this failure: say so, rather than keep a reason
            // from before (a hold the spec no longer has, such as an InvalidSpec since fixed).
            status = status with { Conditions = ConditionSet.Set(status.Conditions, ConditionSet.Ready, false, failure.Reason, failure.Message, generation, time.GetUtcNow()) };
        }

        await sets.WriteStatusAsync(set, status, cancellationToken);
        metrics.ObserveSet(ns, name, status);
        foreach (var planEvent in withdrawal.Events)
            await events.RecordAsync(set, planEvent, cancellationToken);
        if (previous?.Status != "True" || previous.Message != failure.Message)
            await events.RecordAsync(set, PlanEvent.Warning(failure.Reason, failure.Message), cancellationToken);
    }

    /// <summary>
    /// A kid that must leave could not leave everything that publishes it (a target or a copy refused the
    /// write): status keeps the keys as last written (none is called Revoked or Retired yet), Degraded says
    /// what could not be written, Ready=False says why the set is held if it is, and the failure counts under
    /// stage publish, once per distinct message.
    /// </summary>
    public async Task NotWithdrawnAsync(V1Alpha1SigningKeySet set, StepFailure hold, StepFailure failure, CancellationToken cancellationToken)
    {
        var (ns, name, generation) = Identify(set);
        var previous = ConditionSet.Find(set.Status?.Conditions, ConditionSet.Degraded);
        var status = WithDegraded(set.Status ?? new SigningKeySetStatus(), failure, [], generation);
        if (hold.Kind == StepFailureKind.Held)
            status = status with { Conditions = ConditionSet.Set(status.Conditions, ConditionSet.Ready, false, hold.Reason, hold.Message, generation, time.GetUtcNow()) };
        await sets.WriteStatusAsync(set, status, cancellationToken);
        metrics.ObserveSet(ns, name, status);
        if (previous?.Status != "True" || previous.Message != failure.Message)
        {
            metrics.RotationErrors.WithLabels(ns, name, "publish").Inc();
            await events.RecordAsync(set, PlanEvent.Warning(failure.Reason, failure.Message), cancellationToken);
        }
    }

    /// <summary>
    /// The plan was published: status as planned, with Degraded, the skipped copies, the propagation
    /// counts for the plan's keys and the spike condition; then metrics and Events. False when the status
    /// write met a conflict (nothing else is reported; the caller looks again at once).
    /// </summary>
    public async Task<bool> MovedAsync(V1Alpha1SigningKeySet set, StepOutcome.Moved moved, SetSignals signals, CancellationToken cancellationToken)
    {
        var (ns, name, generation) = Identify(set);
        var plan = moved.Plan;
        var vaultError = moved.VaultError is { } error ? Bounded(error) : null;
        var status = WithDegraded(plan.Status, vaultError, moved.Skipped, generation) with
        {
            KeyParameters = set.Status?.KeyParameters ?? (plan.Status.Keys is { Count: > 0 } ? KeySetSpecRules.ParametersOf(set.Spec) : null),
            SkippedTargets = moved.Skipped.Count == 0 ? null : [.. moved.Skipped],
            ExternalTargets = moved.External is { Count: > 0 } external ? [.. external] : null,
            Propagation = propagation.Evaluate(ns, name, plan.Status.ActiveKeyId, plan.Status.NextKeyId),
        };
        var spikeEvent = SpikeTransition(set.Status, signals.Spike);
        status = WithSpike(status, signals.Spike, generation);
        var previousSkipped = set.Status?.SkippedTargets ?? [];
        var previousDegraded = ConditionSet.Find(set.Status?.Conditions, ConditionSet.Degraded);
        if (!await sets.WriteStatusAsync(set, status, cancellationToken))
            return false;

        if (plan.RotationTrigger is { } trigger)
            metrics.Rotations.WithLabels(ns, name, trigger).Inc();
        ObserveSpike(ns, name, signals.Spike);
        metrics.ObserveSet(ns, name, status);
        foreach (var planEvent in spikeEvent is null ? plan.Events : [.. plan.Events, spikeEvent])
            await events.RecordAsync(set, planEvent, cancellationToken);
        foreach (var skipped in moved.Skipped.Where(p => !previousSkipped.Any(q => q.Namespace == p.Namespace && q.Reason == p.Reason)))
            await events.RecordAsync(set, PlanEvent.Warning(skipped.Reason, $"No JWKS copy in namespace {skipped.Namespace}: {skipped.Message}"), cancellationToken);
        if (vaultError is not null)
        {
            metrics.RotationErrors.WithLabels(ns, name, "vault").Inc();
            if (previousDegraded is not { Status: "True" } || previousDegraded.Message != vaultError.Message)
                await events.RecordAsync(set, PlanEvent.Warning(vaultError.Reason, vaultError.Message), cancellationToken);
        }

        return true;
    }

    /// <summary>
    /// Something outside the rotation failed (deleting the set's keys, a reconcile that threw): Degraded=True
    /// with <paramref name="reason"/>, and one Warning Event per distinct message.
    /// </summary>
    public async Task FailedAsync(V1Alpha1SigningKeySet set, string reason, string message, CancellationToken cancellationToken)
    {
        message = StatusMessage.Bound(message);
        var previous = ConditionSet.Find(set.Status?.Conditions, ConditionSet.Degraded);
        var status = (set.Status ?? new SigningKeySetStatus()) with
        {
            Conditions = ConditionSet.Set(set.Status?.Conditions, ConditionSet.Degraded, true, reason, message, set.Metadata.Generation ?? 0, time.GetUtcNow()),
        };
        await sets.WriteStatusAsync(set, status, cancellationToken);
        if (previous?.Status != "True" || previous.Message != message)
            await events.RecordAsync(set, PlanEvent.Warning(reason, message), cancellationToken);
    }

    /// <summary>A Warning Event that changes nothing in status (a deleted set whose vault was left alone).</summary>
    public Task WarnAsync(V1Alpha1SigningKeySet set, string reason, string message, CancellationToken cancellationToken) =>
        events.RecordAsync(set, PlanEvent.Warning(reason, message), cancellationToken);

    /// <summary>The failure as status holds it: compared with the condition's message as written, so that a long one is not news on every reconcile.</summary>
    private static StepFailure Bounded(StepFailure failure) => failure with { Message = StatusMessage.Bound(failure.Message) };

    private static (string Namespace, string Name, long Generation) Identify(V1Alpha1SigningKeySet set) =>
        (set.Metadata.NamespaceProperty, set.Metadata.Name, set.Metadata.Generation ?? 0);

    private SigningKeySetStatus WithDegraded(SigningKeySetStatus status, StepFailure? error, IReadOnlyList<SkippedTarget> skipped, long generation) => status with
    {
        Conditions = error is not null
            ? ConditionSet.Set(status.Conditions, ConditionSet.Degraded, true, error.Reason, error.Message, generation, time.GetUtcNow())
            : skipped.Count > 0
                ? ConditionSet.Set(status.Conditions, ConditionSet.Degraded, true, skipped.Any(p => p.Reason == Reasons.NameConflict) ? Reasons.NameConflict : Reasons.CopiesSkipped,
                    StatusMessage.Join($"{skipped.Count} of spec.jwks.targetNamespaces hold no JWKS copy (see status.skippedTargets): ", "; ", [.. skipped.Select(p => p.Message)]), generation, time.GetUtcNow())
                : ConditionSet.Set(status.Conditions, ConditionSet.Degraded, false, Reasons.AsExpected, "The vault and the API server answer", generation, time.GetUtcNow()),
    };

    private static PlanEvent? SpikeTransition(SigningKeySetStatus? previous, FailureSpike spike)
    {
        var was = ConditionSet.IsTrue(previous?.Conditions, ConditionSet.SignatureFailureSpike);
        return (was, spike.Spiking) switch
        {
            (false, true) => PlanEvent.Warning("SignatureFailureSpike", spike.Describe()),
            (true, false) => PlanEvent.Normal("SignatureFailuresSubsided", $"Reported signature failures are back to normal ({spike.WindowCount} in the last window)"),
            _ => null,
        };
    }

    private SigningKeySetStatus WithSpike(SigningKeySetStatus status, FailureSpike spike, long generation) => status with
    {
        Conditions = spike.Spiking
            ? ConditionSet.Set(status.Conditions, ConditionSet.SignatureFailureSpike, true, Reasons.SpikeDetected, spike.Describe(), generation, time.GetUtcNow())
            : ConditionSet.Set(status.Conditions, ConditionSet.SignatureFailureSpike, false, Reasons.NoSpike, "Reported signature failures are within the baseline", generation, time.GetUtcNow()),
    };

    private void ObserveSpike(string ns, string name, FailureSpike spike)
    {
        foreach (var labels in metrics.FailureSpike.GetAllLabelValues().Where(l => l[0] == ns && l[1] == name).ToList())
        {
            if (!spike.Spiking || labels[2] != spike.Reason || labels[3] != spike.Kid)
                metrics.FailureSpike.RemoveLabelled(labels);
        }

        if (spike.Spiking)
            metrics.FailureSpike.WithLabels(ns, name, spike.Reason ?? "", spike.Kid ?? "").Set(1);
    }
}
