using KeyRotator.Model.Resources;

namespace KeyRotator.Core.Lifecycle;

/// <summary>What the reconcile should make true, in the order it must do it.</summary>
public sealed record RotationPlan
{
    /// <summary>
    /// A key for this rotation generation must be created in the vault first (no vault key carries that
    /// generation yet); the reconcile creates it, then plans again.
    /// </summary>
    public long? CreateGeneration { get; init; }

    /// <summary>The status to write: key states, times, conditions Ready and Rotating.</summary>
    public required SigningKeySetStatus Status { get; init; }

    /// <summary>The kids to publish, Active first, then Pending, then Retiring.</summary>
    public required IReadOnlyList<string> PublishedKeyIds { get; init; }

    /// <summary>The key signers should use now (null only while the first key is being pre-published).</summary>
    public string? ActiveKeyId => Status.ActiveKeyId;

    public IReadOnlyList<PlanEvent> Events { get; init; } = [];

    /// <summary>
    /// Something in this plan happens as of its "now" (a key published, activated, retired or revoked, a time
    /// moved): every Event is such a transition, and so are the first key's publication and activation, which
    /// have none. Their times are settled after the writes (<see cref="RotationStep"/>).
    /// </summary>
    public bool Transitions { get; init; }

    /// <summary>Set when a key starts signing in this plan: why (see <see cref="RotationTriggers"/>).</summary>
    public string? RotationTrigger { get; init; }

    /// <summary>When the next transition is due; the scheduler wakes the set then.</summary>
    public DateTimeOffset? NextWakeTime { get; init; }

    /// <summary>
    /// When the next timed transition is due, leaving out the key to create (which makes
    /// <see cref="NextWakeTime"/> "now"): the wake-up for a set whose new key is still being made.
    /// </summary>
    public DateTimeOffset? NextTimedWakeTime { get; init; }
}
