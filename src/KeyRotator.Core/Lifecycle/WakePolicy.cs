namespace KeyRotator.Core.Lifecycle;

/// <summary>
/// When to look at a set again, beyond what a watched object changing would cause: the plan's next
/// transition, or sooner when something that is not a watched object can change the answer.
/// </summary>
public static class WakePolicy
{
    /// <summary>How long a conflict or a missing grant is left before the set is looked at again.</summary>
    public static readonly TimeSpan ClearCheck = TimeSpan.FromSeconds(30);

    /// <summary>The longest wait between looks while signature failures are reported.</summary>
    public static readonly TimeSpan SpikeCheck = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A held set: a conflict or a missing grant can clear without the set changing (the other object deleted,
    /// a ClusterKeyVault created), and a retiring key's overlap ends on time whatever holds the set.
    /// </summary>
    public static DateTimeOffset? Held(StepFailure hold, DateTimeOffset? nextRetirement, DateTimeOffset now) =>
        Earliest(hold.Reason is Reasons.NameConflict or Reasons.VaultNotGranted ? now + ClearCheck : null, nextRetirement);

    /// <summary>The plan's next transition, or sooner when a signal or a skipped copy needs another look.</summary>
    public static DateTimeOffset? Moved(StepOutcome.Moved moved, WakeFacts facts, DateTimeOffset now)
    {
        var spike = facts.Spike;
        var keys = moved.Plan.Status.Keys;
        return Earliest(
            // A key still being generated wakes the set itself: until then only the timed transitions count.
            moved.KeyPending ? moved.Plan.NextTimedWakeTime : moved.Plan.NextWakeTime,
            // While failures spike, look again soon so that the condition clears once the window is quiet.
            spike.Spiking || spike.WindowCount > 0 ? now + TimeSpan.FromTicks(Math.Min(spike.Window.Ticks / 10, SpikeCheck.Ticks)) : null,
            // A verifier or signer that stops reporting drops out of the window: look again then.
            facts.NextReporterExpiry + TimeSpan.FromSeconds(1),
            // A skipped copy may become possible (namespace created, opt-in added) without any watched object changing.
            moved.Skipped.Count > 0 ? now + ClearCheck : null,
            // External documents get their own max-age back once a revocation is no longer recent.
            facts.PublishesExternally ? CachePolicy.RecentRevocationEnds(keys, now) : null,
            // And they are checked again every max-age: a restore or a hand edit is repaired before caches fetch it again.
            facts.PublishesExternally ? now + CachePolicy.DriftCheck(CachePolicy.MaxAge(facts.Rotation, keys, now)) : null);
    }

    /// <summary>
    /// The retry a step's <paramref name="outcome"/> asks for, once its report was written: a hold waits for a change
    /// (woken at <see cref="Held"/>), a degraded hold, a withdrawal refused and a key the vault could not make are
    /// retried with backoff, the first key still being made wakes the set itself, an unsettled plan is looked at
    /// again at once, and a moved plan wakes at <see cref="Moved"/> (<paramref name="facts"/> are needed only there).
    /// </summary>
    public static RetryDecision After(StepOutcome outcome, WakeFacts? facts, DateTimeOffset now) => outcome switch
    {
        StepOutcome.Held { Failure.Kind: StepFailureKind.Held } held =>
            new(RetryKind.Terminal, Held(held.Failure, held.Withdrawal.NextRetirement, now), held.Failure),
        StepOutcome.Held degraded => new(RetryKind.Retryable, Error: degraded.Failure),
        StepOutcome.NotWithdrawn notWithdrawn => new(RetryKind.Retryable, Error: notWithdrawn.Failure),
        StepOutcome.WaitingForFirstKey => new(RetryKind.Done),
        StepOutcome.Unsettled => new(RetryKind.At, now),
        StepOutcome.Moved { VaultError: { } vaultError } => new(RetryKind.Retryable, Error: vaultError),
        StepOutcome.Moved moved => new(RetryKind.At, Moved(moved, facts ?? throw new ArgumentNullException(nameof(facts)), now)),
        _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome.GetType().Name, "an outcome the wake policy does not know"),
    };

    /// <summary>A moved plan whose status write did not land (someone else wrote first): look again at once.</summary>
    public static RetryDecision StatusNotWritten(DateTimeOffset now) => new(RetryKind.At, now);

    /// <summary>The earliest of the times given (null ones ignored).</summary>
    public static DateTimeOffset? Earliest(params DateTimeOffset?[] times) =>
        times.Where(t => t is not null).DefaultIfEmpty(null).Min();
}
