using KeyRotator.Core.Lifecycle;

namespace KeyRotator.Operator.Controllers;

/// <summary>
/// The retry contract between a reconcile and the queue (controller-runtime's <c>reconcile.Result</c> and
/// <c>TerminalError</c>): done, wake at a time, a retryable error (retried with backoff), or a terminal
/// error (the set cannot move until something changes: not retried, but woken at <see cref="WakeAt"/> when
/// that something is not a watched object). An exception thrown by a reconcile counts as retryable.
/// </summary>
public sealed record ReconcileResult(DateTimeOffset? WakeAt = null, bool Retry = false, StepFailure? Error = null)
{
    public static ReconcileResult Done { get; } = new();

    public static ReconcileResult At(DateTimeOffset? time) => new(time);

    /// <summary>The vault or the API server failed: retry with backoff.</summary>
    public static ReconcileResult Retryable(StepFailure error) => new(Retry: true, Error: error);

    /// <summary>Retry with backoff for a failure that status already reports.</summary>
    public static ReconcileResult RetryWithBackoff { get; } = new(Retry: true);

    /// <summary>The set is held (an invalid spec, a name conflict): no retry; look again at <paramref name="lookAgain"/> if set.</summary>
    public static ReconcileResult Terminal(StepFailure error, DateTimeOffset? lookAgain) => new(lookAgain, Error: error);

    /// <summary>The contract for what <see cref="WakePolicy"/> decided, one to one.</summary>
    public static ReconcileResult From(RetryDecision decision) => decision.Kind switch
    {
        RetryKind.Done => Done,
        RetryKind.At => At(decision.At),
        RetryKind.Retryable => Retryable(decision.Error!),
        RetryKind.Terminal => Terminal(decision.Error!, decision.At),
        _ => throw new ArgumentOutOfRangeException(nameof(decision), decision.Kind, "an unknown retry kind"),
    };

    /// <summary>The earliest of the wake times given (null ones ignored).</summary>
    public static DateTimeOffset? Earliest(params DateTimeOffset?[] times) =>
        times.Where(t => t is not null).DefaultIfEmpty(null).Min();
}
