using k8s.Autorest;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Observability;
using KeyRotator.Operator.Runtime;
using KeyRotator.Operator.Vault;
using Microsoft.Extensions.Logging;

namespace KeyRotator.Operator.Controllers;

/// <summary>
/// Level-based reconcile of one SigningKeySet, as observe → decide → act → report: read the set and its
/// signals once (<see cref="SetObserver"/>), let <see cref="RotationStep"/> decide and drive the acts in the
/// safety order (<see cref="SetEffects"/>: JWKS copies, then the signing Secret), write status, Events and
/// metrics in one place (<see cref="SetReporter"/>), then clean up the vault and say when to wake up.
/// docs/architecture.md walks through it.
/// </summary>
public sealed partial class SigningKeySetReconciler(
    SetClient sets,
    SetObserver observer,
    SetEffects effects,
    SetReporter reporter,
    SetFinalizer finalizer,
    SetMemory memory,
    PropagationTracker propagation,
    TimeProvider time,
    ILogger<SigningKeySetReconciler> logger)
{
    public async Task<ReconcileResult> ReconcileAsync(string ns, string name, CancellationToken cancellationToken)
    {
        var set = await sets.GetAsync(ns, name, cancellationToken);
        if (set is null)
        {
            memory.Forget(new SetKey(ns, name), uid: null);
            return ReconcileResult.Done;
        }

        if (set.Metadata.DeletionTimestamp is not null)
            return await finalizer.FinalizeAsync(set, observer.PolicyOptions) ? ReconcileResult.RetryWithBackoff : ReconcileResult.Done;
        set = await sets.EnsureFinalizerAsync(set, cancellationToken);

        var snapshot = await observer.ObserveAsync(set, cancellationToken);
        var acts = effects.For(set, snapshot.Context);
        var outcome = await RotationStep.RunAsync(snapshot.Input, acts, time, cancellationToken);
        switch (outcome)
        {
            case StepOutcome.Held { Failure.Kind: StepFailureKind.Held } held:
                await reporter.HeldAsync(set, held.Withdrawal, held.Failure, cancellationToken);
                return ReconcileResult.Terminal(held.Failure, ReconcileResult.Earliest(MayClearBy(held.Failure), held.Withdrawal.NextRetirement));
            case StepOutcome.Held degraded:
                await reporter.DegradedAsync(set, degraded.Withdrawal, degraded.Failure, cancellationToken);
                return ReconcileResult.Retryable(degraded.Failure);
            case StepOutcome.NotWithdrawn notWithdrawn:
                await reporter.NotWithdrawnAsync(set, notWithdrawn.Hold, notWithdrawn.Failure, cancellationToken);
                return ReconcileResult.Retryable(notWithdrawn.Failure);
            case StepOutcome.WaitingForFirstKey:
                return ReconcileResult.Done;
            case StepOutcome.Unsettled:
                return ReconcileResult.At(time.GetUtcNow());
        }

        var moved = (StepOutcome.Moved)outcome;
        if (!await reporter.MovedAsync(set, moved, snapshot.Signals!, cancellationToken))
            return ReconcileResult.At(time.GetUtcNow());
        if (moved.VaultError is { } vaultError)
            return ReconcileResult.Retryable(vaultError);
        if (await acts.CleanUpVaultAsync(moved.Cleanup, cancellationToken) is { } cleanupError)
            LogVaultCleanupFailed(logger, ns, name, cleanupError);
        return ReconcileResult.At(NextWake(set, moved, snapshot.Signals!));
    }

    /// <summary>A conflict or a missing grant can clear without the set changing (the other object deleted, a ClusterKeyVault created).</summary>
    private DateTimeOffset? MayClearBy(StepFailure failure) =>
        failure.Reason is Reasons.NameConflict or Reasons.VaultNotGranted ? time.GetUtcNow() + TimeSpan.FromSeconds(30) : null;

    /// <summary>The plan's next transition, or sooner when a signal or a skipped copy needs another look.</summary>
    private DateTimeOffset? NextWake(KeyRotator.Model.Resources.V1Alpha1SigningKeySet set, StepOutcome.Moved moved, SetSignals signals)
    {
        var (ns, name) = (set.Metadata.NamespaceProperty, set.Metadata.Name);
        var now = time.GetUtcNow();
        return ReconcileResult.Earliest(
            // A key still being generated wakes the set itself: until then only the timed transitions count.
            moved.KeyPending ? moved.Plan.NextTimedWakeTime : moved.Plan.NextWakeTime,
            // While failures spike, look again soon so that the condition clears once the window is quiet.
            signals.Spike is { Spiking: true } or { WindowCount: > 0 }
                ? now + TimeSpan.FromTicks(Math.Min(signals.Spike.Window.Ticks / 10, TimeSpan.FromSeconds(30).Ticks)) : null,
            // A verifier or signer that stops reporting drops out of the window: look again then.
            propagation.NextExpiry(ns, name) + TimeSpan.FromSeconds(1),
            // A skipped copy may become possible (namespace created, opt-in added) without any watched object changing.
            moved.Skipped.Count > 0 ? now + TimeSpan.FromSeconds(30) : null,
            // External documents get their own max-age back once a revocation is no longer recent.
            set.Spec.Publish is { Count: > 0 } ? CachePolicy.RecentRevocationEnds(moved.Plan.Status.Keys, now) : null,
            // And they are checked again every max-age: a restore or a hand edit is repaired before caches fetch it again.
            set.Spec.Publish is { Count: > 0 } ? now + CachePolicy.DriftCheck(CachePolicy.MaxAge(set.Spec.Rotation, moved.Plan.Status.Keys, now)) : null);
    }

    /// <summary>
    /// A reconcile threw something none of its own paths handle (a library's exception, an API refusal of
    /// an object whose name comes from the set): the set says so (Degraded, reason ReconcileFailed, naming
    /// the operation and the answer) and records one Warning Event per distinct failure, while the
    /// controller retries with backoff. Best effort: a failure to report is only logged.
    /// </summary>
    public async Task ReportFailureAsync(string ns, string name, Exception error, CancellationToken cancellationToken)
    {
        try
        {
            if (await sets.GetAsync(ns, name, cancellationToken) is { } set)
                await reporter.FailedAsync(set, Reasons.ReconcileFailed, $"The reconcile failed and is retried with backoff: {DescribeFailure(error)}", cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogFailureNotReported(logger, ns, name, e.GetType().Name);
        }
    }

    /// <summary>What failed, safe for status and Events: the API request and answer, or the exception's type and (bounded) message.</summary>
    public static string DescribeFailure(Exception error) => error switch
    {
        HttpOperationException http => ApiAnswer.Describe(http),
        KeyStoreException vault => vault.Message,
        _ => $"{error.GetType().Name}: {(error.Message.Length > 300 ? error.Message[..300] + "…" : error.Message)}",
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Namespace}/{Name}: vault clean-up failed, will retry: {Error}")]
    private static partial void LogVaultCleanupFailed(ILogger logger, string @namespace, string name, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Namespace}/{Name}: could not record a reconcile failure on the set ({Error})")]
    private static partial void LogFailureNotReported(ILogger logger, string @namespace, string name, string error);
}
