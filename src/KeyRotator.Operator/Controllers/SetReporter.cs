using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Observability;

namespace KeyRotator.Operator.Controllers;

/// <summary>
/// The report step, and the only writer of a set's status, its Events and its per-set metrics. It decides
/// nothing: <see cref="StatusComposer"/> (Core) composes the status, the Events and the failure's metric
/// stage from how the step ended; this class writes the status only when it changed, then the metrics and
/// the Events, in that order.
/// </summary>
public sealed class SetReporter(SetClient sets, EventRecorder events, OperatorMetrics metrics, TimeProvider time)
{
    /// <summary>Nothing may move forward: Ready=False says why, with the revocations and retirements that still happened.</summary>
    public Task HeldAsync(V1Alpha1SigningKeySet set, Withdrawal withdrawal, StepFailure failure, CancellationToken cancellationToken) =>
        WriteAsync(set, StatusComposer.Held(set.Status, withdrawal, failure, Generation(set), time.GetUtcNow()), cancellationToken);

    /// <summary>The vault, reading signer material or writing a JWKS copy failed: safety still happened, status says what failed.</summary>
    public Task DegradedAsync(V1Alpha1SigningKeySet set, Withdrawal withdrawal, StepFailure failure, CancellationToken cancellationToken) =>
        WriteAsync(set, StatusComposer.Degraded(set.Status, withdrawal, failure, Generation(set), time.GetUtcNow()), cancellationToken);

    /// <summary>A kid that must leave could not leave everything that publishes it: status keeps the keys as last written.</summary>
    public Task NotWithdrawnAsync(V1Alpha1SigningKeySet set, StepFailure hold, StepFailure failure, CancellationToken cancellationToken) =>
        WriteAsync(set, StatusComposer.NotWithdrawn(set.Status, hold, failure, Generation(set), time.GetUtcNow()), cancellationToken);

    /// <summary>
    /// The plan was published: its report, then the rotation and spike metrics. False when the status write
    /// met a conflict (nothing else is reported; the caller looks again at once).
    /// </summary>
    public async Task<bool> MovedAsync(V1Alpha1SigningKeySet set, MovedReport moved, CancellationToken cancellationToken)
    {
        var (ns, name) = (set.Metadata.NamespaceProperty, set.Metadata.Name);
        var report = StatusComposer.Moved(set.Status, moved, Generation(set), time.GetUtcNow());
        if (!await sets.WriteStatusAsync(set, report.Status, cancellationToken))
            return false;
        if (moved.Moved.Plan.RotationTrigger is { } trigger)
            metrics.Rotations.WithLabels(ns, name, trigger).Inc();
        ObserveSpike(ns, name, moved.Spike);
        await RecordAsync(set, report, cancellationToken);
        return true;
    }

    /// <summary>Something outside the rotation failed (deleting the set's keys, a reconcile that threw): Degraded=True with <paramref name="reason"/>.</summary>
    public async Task FailedAsync(V1Alpha1SigningKeySet set, string reason, string message, CancellationToken cancellationToken)
    {
        var report = StatusComposer.Failed(set.Status, reason, message, Generation(set), time.GetUtcNow());
        await sets.WriteStatusAsync(set, report.Status, cancellationToken);
        foreach (var planEvent in report.Events)
            await events.RecordAsync(set, planEvent, cancellationToken);
    }

    /// <summary>A Warning Event that changes nothing in status (a deleted set whose vault was left alone, a set that cannot be decoded).</summary>
    public Task WarnAsync(V1Alpha1SigningKeySet set, string reason, string message, CancellationToken cancellationToken) =>
        events.RecordAsync(set, PlanEvent.Warning(reason, message), cancellationToken);

    /// <summary>
    /// A set's status as the watch delivered it, mirrored into its gauges on every replica: a standby's series
    /// stay current, so a failover neither hides a per-set alert nor raises it twice.
    /// </summary>
    public void Mirror(V1Alpha1SigningKeySet set, SigningKeySetStatus status) =>
        metrics.ObserveSet(set.Metadata.NamespaceProperty, set.Metadata.Name, status);

    /// <summary>A reconcile threw: counted under stage reconcile (status says so through <see cref="FailedAsync"/>).</summary>
    public void CountReconcileFailure(string ns, string name) =>
        metrics.RotationErrors.WithLabels(ns, name, "reconcile").Inc();

    private async Task WriteAsync(V1Alpha1SigningKeySet set, StatusReport report, CancellationToken cancellationToken)
    {
        await sets.WriteStatusAsync(set, report.Status, cancellationToken);
        await RecordAsync(set, report, cancellationToken);
    }

    /// <summary>The set's gauges, the failure's count, then the Events, in the composer's order.</summary>
    private async Task RecordAsync(V1Alpha1SigningKeySet set, StatusReport report, CancellationToken cancellationToken)
    {
        var (ns, name) = (set.Metadata.NamespaceProperty, set.Metadata.Name);
        metrics.ObserveSet(ns, name, report.Status);
        if (report.ErrorStage is { } stage)
            metrics.RotationErrors.WithLabels(ns, name, stage).Inc();
        foreach (var planEvent in report.Events)
            await events.RecordAsync(set, planEvent, cancellationToken);
    }

    private static long Generation(V1Alpha1SigningKeySet set) => set.Metadata.Generation ?? 0;

    private void ObserveSpike(string ns, string name, SpikeSignal spike)
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
