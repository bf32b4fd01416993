using KeyRotator.Model.Resources;

namespace KeyRotator.Core.Lifecycle;

/// <summary>Everything a rotation decision depends on. The planner reads nothing else.</summary>
public sealed record RotationInput
{
    public required RotationPolicy Policy { get; init; }

    /// <summary>The set's status as last written (null for a new set).</summary>
    public SigningKeySetStatus? Status { get; init; }

    /// <summary>The keys the vault holds for this set.</summary>
    public IReadOnlyList<StoredKey> StoredKeys { get; init; } = [];

    /// <summary>The value of the keyrotator.io/rotate-now annotation, if any.</summary>
    public string? RotateNowRequest { get; init; }

    /// <summary>metadata.generation, recorded as observedGeneration.</summary>
    public long Generation { get; init; }

    /// <summary>The set's deterministic jitter (see <see cref="RotationPolicy.JitterFor"/>).</summary>
    public TimeSpan JitterOffset { get; init; }

    public required DateTimeOffset Now { get; init; }

    /// <summary>
    /// Which keys verifiers and signers hold, as heard within the window (null: nobody reports, and
    /// Confirmed activation behaves like Timed).
    /// </summary>
    public PropagationStatus? Propagation { get; init; }

    /// <summary>
    /// Verifiers report a spike of unknown_kid failures naming the active key (the spike rule, evaluated
    /// on that kid): its description, or null. Shortly after an activation this rolls signing back.
    /// </summary>
    public string? UnknownKidSpikeOnActiveKey { get; init; }

    /// <summary>keyrotator.io/no-rollback: the kid whose activation is never rolled back.</summary>
    public string? NoRollbackKid { get; init; }

    /// <summary>
    /// The kid the set's signing Secret names: what signers were last handed. The Secret is written before
    /// status, so after a refused status write it can be ahead of status (a rollback status never recorded).
    /// </summary>
    public string? SigningKid { get; init; }

    /// <summary>keyrotator.io/force-activation: the pending kid that activates when due without waiting for verifiers.</summary>
    public string? ForceActivationKid { get; init; }
}
