using k8s.Autorest;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Operator.Kubernetes;
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
        WakeFacts? wake = null;
        switch (outcome)
        {
            case StepOutcome.Held { Failure.Kind: StepFailureKind.Held } held:
                await reporter.HeldAsync(set, held.Withdrawal, held.Failure, cancellationToken);
                break;
            case StepOutcome.Held degraded:
                await reporter.DegradedAsync(set, degraded.Withdrawal, degraded.Failure, cancellationToken);
                break;
            case StepOutcome.NotWithdrawn notWithdrawn:
                await reporter.NotWithdrawnAsync(set, notWithdrawn.Hold, notWithdrawn.Failure, cancellationToken);
                break;
            case StepOutcome.Moved moved:
                var signals = snapshot.Signals!;
                var report = new MovedReport(moved, KeySetSpecRules.ParametersOf(set.Spec), observer.PropagationOf(set, moved.Plan.Status), signals.Spike);
                if (!await reporter.MovedAsync(set, report, cancellationToken))
                    return ReconcileResult.From(WakePolicy.StatusNotWritten(time.GetUtcNow()));
                if (moved.VaultError is null && await acts.CleanUpVaultAsync(moved.Cleanup, cancellationToken) is { } cleanupError)
                    LogVaultCleanupFailed(logger, ns, name, cleanupError);
                wake = new WakeFacts(signals.Spike, signals.NextReporterExpiry, set.Spec.Rotation, set.Spec.Publish is { Count: > 0 });
                break;
        }

        // Which retry, and when, is Core's (WakePolicy.After); the queue's contract only carries it.
        return ReconcileResult.From(WakePolicy.After(outcome, wake, time.GetUtcNow()));
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
