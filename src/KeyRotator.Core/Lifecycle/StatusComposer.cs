using KeyRotator.Model.Resources;

namespace KeyRotator.Core.Lifecycle;

/// <summary>
/// Composes what a reconcile reports from how its step ended: the conditions the planner does not compose
/// (Ready=False on a hold, Degraded, SignatureFailureSpike), the Warning Events (once per distinct failure),
/// and the metric stage a failure counts under. Pure: the reporter writes what this returns and nothing else.
/// </summary>
public static class StatusComposer
{
    /// <summary>
    /// Nothing may move forward (an invalid spec, a name conflict, a grant missing): Ready=False says why,
    /// with the revocations and retirements that still happened.
    /// </summary>
    public static StatusReport Held(SigningKeySetStatus? previous, Withdrawal withdrawal, StepFailure failure, long generation, DateTimeOffset now)
    {
        failure = Bounded(failure);
        var status = withdrawal.Status with
        {
            ObservedGeneration = generation,
            Conditions = ConditionSet.Set(withdrawal.Status.Conditions, ConditionSet.Ready, false, failure.Reason, failure.Message, generation, now),
        };
        var was = ConditionSet.Find(previous?.Conditions, ConditionSet.Ready);
        var news = was?.Reason != failure.Reason || was.Message != failure.Message;
        return new StatusReport(status, news ? [.. withdrawal.Events, Warning(failure)] : withdrawal.Events, news ? Failures.Stage(failure) : null);
    }

    /// <summary>The vault, reading signer material or writing a JWKS copy failed: safety still happened, Degraded says what failed.</summary>
    public static StatusReport Degraded(SigningKeySetStatus? previous, Withdrawal withdrawal, StepFailure failure, long generation, DateTimeOffset now)
    {
        failure = Bounded(failure);
        var status = WithDegraded(withdrawal.Status, failure, [], generation, now);
        if (ConditionSet.Find(status.Conditions, ConditionSet.Ready) is not { Status: "True" })
        {
            // A set that does not sign yet is not Ready because of this failure: say so, rather than keep a reason
            // from before (a hold the spec no longer has, such as an InvalidSpec since fixed).
            status = status with { Conditions = ConditionSet.Set(status.Conditions, ConditionSet.Ready, false, failure.Reason, failure.Message, generation, now) };
        }

        return new StatusReport(status, IsNews(previous, failure) ? [.. withdrawal.Events, Warning(failure)] : withdrawal.Events, Failures.Stage(failure));
    }

    /// <summary>
    /// A kid that must leave could not leave everything that publishes it: status keeps the keys as last
    /// written (none is called Revoked or Retired yet), Degraded says what could not be written, and Ready=False
    /// says why the set is held if it is.
    /// </summary>
    public static StatusReport NotWithdrawn(SigningKeySetStatus? previous, StepFailure hold, StepFailure failure, long generation, DateTimeOffset now)
    {
        failure = Bounded(failure);
        var status = WithDegraded(previous ?? new SigningKeySetStatus(), failure, [], generation, now);
        if (hold.Kind == StepFailureKind.Held)
            status = status with { Conditions = ConditionSet.Set(status.Conditions, ConditionSet.Ready, false, hold.Reason, hold.Message, generation, now) };
        return IsNews(previous, failure) ? new StatusReport(status, [Warning(failure)], Failures.Stage(failure)) : new StatusReport(status, [], null);
    }

    /// <summary>
    /// The plan was published: status as planned, with Degraded (a vault error, skipped copies, or as expected),
    /// the key parameters pinned with the first key, the propagation counts and the spike condition; the plan's
    /// Events, the spike's transition, one Warning per newly skipped copy and one per distinct vault error.
    /// </summary>
    public static StatusReport Moved(SigningKeySetStatus? previous, MovedReport report, long generation, DateTimeOffset now)
    {
        var moved = report.Moved;
        var plan = moved.Plan;
        var vaultError = moved.VaultError is { } error ? Bounded(error) : null;
        var status = WithDegraded(plan.Status, vaultError, moved.Skipped, generation, now) with
        {
            KeyParameters = previous?.KeyParameters ?? (plan.Status.Keys is { Count: > 0 } ? report.SpecParameters : null),
            SkippedTargets = moved.Skipped.Count == 0 ? null : [.. moved.Skipped],
            ExternalTargets = moved.External is { Count: > 0 } external ? [.. external] : null,
            Propagation = report.Propagation,
        };
        status = WithSpike(status, report.Spike, generation, now);

        var events = new List<PlanEvent>(plan.Events);
        if (SpikeTransition(previous, report.Spike) is { } spikeEvent)
            events.Add(spikeEvent);
        var previousSkipped = previous?.SkippedTargets ?? [];
        foreach (var skipped in moved.Skipped.Where(p => !previousSkipped.Any(q => q.Namespace == p.Namespace && q.Reason == p.Reason)))
            events.Add(PlanEvent.Warning(skipped.Reason, $"No JWKS copy in namespace {skipped.Namespace}: {skipped.Message}"));
        if (vaultError is not null && IsNews(previous, vaultError))
            events.Add(Warning(vaultError));
        return new StatusReport(status, events, vaultError is null ? null : "vault");
    }

    /// <summary>
    /// Something outside the rotation failed (deleting the set's keys or documents, a reconcile that threw):
    /// Degraded=True with <paramref name="reason"/>, and one Warning Event per distinct message.
    /// </summary>
    public static StatusReport Failed(SigningKeySetStatus? previous, string reason, string message, long generation, DateTimeOffset now)
    {
        var failure = Bounded(new StepFailure(StepFailureKind.Degraded, reason, message));
        var status = (previous ?? new SigningKeySetStatus()) with
        {
            Conditions = ConditionSet.Set(previous?.Conditions, ConditionSet.Degraded, true, reason, failure.Message, generation, now),
        };
        return new StatusReport(status, IsNews(previous, failure) ? [Warning(failure)] : [], null);
    }

    /// <summary>A failure is news when Degraded was not already True with the same message (a long one compared as written).</summary>
    private static bool IsNews(SigningKeySetStatus? previous, StepFailure failure) =>
        ConditionSet.Find(previous?.Conditions, ConditionSet.Degraded) is not { Status: "True" } was || was.Message != failure.Message;

    private static PlanEvent Warning(StepFailure failure) => PlanEvent.Warning(failure.Reason, failure.Message);

    private static StepFailure Bounded(StepFailure failure) => failure with { Message = StatusMessage.Bound(failure.Message) };

    private static SigningKeySetStatus WithDegraded(SigningKeySetStatus status, StepFailure? error, IReadOnlyList<SkippedTarget> skipped, long generation, DateTimeOffset now) => status with
    {
        Conditions = error is not null
            ? ConditionSet.Set(status.Conditions, ConditionSet.Degraded, true, error.Reason, error.Message, generation, now)
            : skipped.Count > 0
                ? ConditionSet.Set(status.Conditions, ConditionSet.Degraded, true, skipped.Any(p => p.Reason == Reasons.NameConflict) ? Reasons.NameConflict : Reasons.CopiesSkipped,
                    StatusMessage.Join($"{skipped.Count} of spec.jwks.targetNamespaces hold no JWKS copy (see status.skippedTargets): ", "; ", [.. skipped.Select(p => p.Message)]), generation, now)
                : ConditionSet.Set(status.Conditions, ConditionSet.Degraded, false, Reasons.AsExpected, "The vault and the API server answer", generation, now),
    };

    private static PlanEvent? SpikeTransition(SigningKeySetStatus? previous, SpikeSignal spike)
    {
        var was = ConditionSet.IsTrue(previous?.Conditions, ConditionSet.SignatureFailureSpike);
        return (was, spike.Spiking) switch
        {
            (false, true) => PlanEvent.Warning("SignatureFailureSpike", spike.Description),
            (true, false) => PlanEvent.Normal("SignatureFailuresSubsided", $"Reported signature failures are back to normal ({spike.WindowCount} in the last window)"),
            _ => null,
        };
    }

    private static SigningKeySetStatus WithSpike(SigningKeySetStatus status, SpikeSignal spike, long generation, DateTimeOffset now) => status with
    {
        Conditions = spike.Spiking
            ? ConditionSet.Set(status.Conditions, ConditionSet.SignatureFailureSpike, true, Reasons.SpikeDetected, spike.Description, generation, now)
            : ConditionSet.Set(status.Conditions, ConditionSet.SignatureFailureSpike, false, Reasons.NoSpike, "Reported signature failures are within the baseline", generation, now),
    };
}
