namespace KeyRotator.Core.Lifecycle;

/// <summary>Which kind of retry a reconcile asks of the queue (controller-runtime's result and terminal error).</summary>
public enum RetryKind
{
    /// <summary>Nothing to do until a watched object changes.</summary>
    Done,

    /// <summary>Wake at <see cref="RetryDecision.At"/> (none: as <see cref="Done"/>).</summary>
    At,

    /// <summary>The vault or the API server failed: retry with backoff.</summary>
    Retryable,

    /// <summary>Held until something changes: no retry, but woken at <see cref="RetryDecision.At"/> when set.</summary>
    Terminal,
}

/// <summary>What <see cref="WakePolicy"/> decided after a step: the kind of retry, when, and for which failure.</summary>
public sealed record RetryDecision(RetryKind Kind, DateTimeOffset? At = null, StepFailure? Error = null);
