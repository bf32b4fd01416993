using KeyRotator.Model.Resources;

namespace KeyRotator.Core.Lifecycle;

/// <summary>How an effect failed, and so how the set is held.</summary>
public enum StepFailureKind
{
    /// <summary>The set may not move forward at all (an invalid spec, a vault not granted, a name someone else holds): Ready=False.</summary>
    Held,

    /// <summary>The vault or the API server failed: Degraded=True, retried with backoff.</summary>
    Degraded,
}

/// <summary>Why a step could not go ahead, in the words status and Events use.</summary>
public sealed record StepFailure(StepFailureKind Kind, string Reason, string Message);

/// <summary>What the vault said when asked for the set's keys.</summary>
public sealed record KeyListing(IReadOnlyList<StoredKey>? Keys, StepFailure? Failure)
{
    public static KeyListing Of(IReadOnlyList<StoredKey> keys) => new(keys, null);

    public static KeyListing Failed(StepFailure failure) => new(null, failure);
}

/// <summary>What asking the vault for a new key gave: the key, "not ready yet" (made off the workers), or a failure.</summary>
public sealed record KeyCreation(StoredKey? Key, bool Pending, StepFailure? Failure)
{
    public static KeyCreation Created(StoredKey key) => new(key, false, null);

    public static KeyCreation NotReady { get; } = new(null, true, null);

    public static KeyCreation Failed(StepFailure failure) => new(null, false, failure);
}

/// <summary>What publishing the plan gave: a failure that stopped it, and the JWKS copies skipped on the way.</summary>
public sealed record PublishResult(StepFailure? Failure, IReadOnlyList<SkippedTarget> Skipped, IReadOnlyList<ExternalTargetStatus>? External = null)
{
    public static PublishResult Done(IReadOnlyList<SkippedTarget> skipped, IReadOnlyList<ExternalTargetStatus>? external = null) => new(null, skipped, external);

    public static PublishResult Failed(StepFailure failure, IReadOnlyList<SkippedTarget>? skipped = null) => new(failure, skipped ?? []);
}

/// <summary>
/// The writes and reads one reconcile of one set needs, in the order <see cref="RotationStep"/> uses them.
/// The operator implements them on Kubernetes and the vaults (the reconciler tests' random walk drives
/// that implementation, on the in-memory object client).
/// </summary>
public interface IRotationEffects
{
    /// <summary>The keys the vault holds for the set.</summary>
    Task<KeyListing> ListKeysAsync(CancellationToken cancellationToken);

    /// <summary>Makes the key of <paramref name="generation"/> in the vault.</summary>
    Task<KeyCreation> CreateKeyAsync(long generation, CancellationToken cancellationToken);

    /// <summary>Publishes the plan: every JWKS copy first, then the signing Secret.</summary>
    Task<PublishResult> PublishAsync(RotationPlan plan, IReadOnlyList<StoredKey> stored, CancellationToken cancellationToken);

    /// <summary>
    /// Takes <paramref name="unpublished"/> out of every JWKS copy, every external target and the signing Secret,
    /// from what is published now. Every place is tried whatever the others answer; the first place that could
    /// not be written comes back as a failure (never as an exception).
    /// </summary>
    Task<StepFailure?> WithdrawAsync(IReadOnlySet<string> unpublished, CancellationToken cancellationToken);
}

/// <summary>Everything a step decides from.</summary>
/// <param name="Status">The set's status as last written.</param>
/// <param name="Revoked">spec.revokedKeyIds: honoured whatever else is wrong.</param>
/// <param name="Planning">What the planner needs (its stored keys and time are filled in by the step); null when the set is held.</param>
/// <param name="Hold">Why the set may not move forward before anything is read (an invalid spec, a vault not granted).</param>
/// <param name="DeletePrunedKeys">Keys pruned from the status history are deleted from the vault (the Delete policy, or a store that cannot keep an unbounded history), else disabled.</param>
public sealed record StepInput(SigningKeySetStatus? Status, IReadOnlySet<string> Revoked, RotationInput? Planning, StepFailure? Hold = null, bool DeletePrunedKeys = false);

/// <summary>How a step ended.</summary>
public abstract record StepOutcome
{
    /// <summary>Nothing moved forward: only revocations and retirements happened (<see cref="Withdrawal"/>), for <see cref="Failure"/>.</summary>
    public sealed record Held(Withdrawal Withdrawal, StepFailure Failure) : StepOutcome;

    /// <summary>
    /// Nothing moved forward (for <see cref="Hold"/>), and a kid that must leave could not leave every place that
    /// publishes it (<see cref="Failure"/>): status stays as last written, so that no key is called Revoked or
    /// Retired while something still publishes it, and the step is retried with backoff.
    /// </summary>
    public sealed record NotWithdrawn(StepFailure Hold, StepFailure Failure) : StepOutcome;

    /// <summary>The set's first key is still being made: nothing to publish or withdraw meanwhile.</summary>
    public sealed record WaitingForFirstKey : StepOutcome;

    /// <summary>The plan moved while it was being published (a transition came due): look again at once.</summary>
    public sealed record Unsettled : StepOutcome;

    /// <summary>
    /// The plan was published. <see cref="VaultError"/>: a key could not be made (the rest went ahead);
    /// <see cref="KeyPending"/>: a key is still being made and wakes the set when ready;
    /// <see cref="Cleanup"/>: what the vault should disable or delete once status is written (none after a vault error).
    /// </summary>
    public sealed record Moved(RotationPlan Plan, IReadOnlyList<StoredKey> Stored, StepFailure? VaultError, bool KeyPending, IReadOnlyList<SkippedTarget> Skipped, VaultCleanup Cleanup, IReadOnlyList<ExternalTargetStatus>? External = null) : StepOutcome;
}

/// <summary>
/// One reconcile of one set, as a decision over effects: read the vault, plan, make the key the plan asks
/// for and plan again, publish (JWKS copies before the signing Secret), and settle the transition times
/// after the writes, and decide the vault clean-up (<see cref="VaultCleanup"/>). Whatever stops it (a hold, the vault, a refused write, a name someone else holds),
/// revocations and retirements still happen from what is published: safety never waits.
/// </summary>
public static class RotationStep
{
    public static async Task<StepOutcome> RunAsync(StepInput input, IRotationEffects effects, TimeProvider time, CancellationToken cancellationToken)
    {
        if (input.Hold is not null || input.Planning is null)
            return await HoldAsync(input, input.Hold ?? new StepFailure(StepFailureKind.Held, Reasons.InvalidSpec, "the set cannot be planned"), effects, time, cancellationToken);

        var listing = await effects.ListKeysAsync(cancellationToken);
        if (listing.Failure is { } unreadable)
            return await HoldAsync(input, unreadable, effects, time, cancellationToken);

        var stored = new List<StoredKey>(listing.Keys ?? []);
        var plan = Plan(input.Planning, stored, time);
        StepFailure? vaultError = null;
        var keyPending = false;
        if (plan.CreateGeneration is { } generation)
        {
            var creation = await effects.CreateKeyAsync(generation, cancellationToken);
            if (creation.Key is { } key)
            {
                stored.Add(key);
                plan = Plan(input.Planning, stored, time);
            }
            else if (creation.Pending)
            {
                // Everything else goes ahead as planned, revocations and retirements included: safety never
                // waits for a key to be made. A set with no key yet has nothing to publish or withdraw.
                if (stored.Count == 0)
                    return new StepOutcome.WaitingForFirstKey();
                keyPending = true;
            }
            else if (creation.Failure is { Kind: StepFailureKind.Held } held)
            {
                return await HoldAsync(input, held, effects, time, cancellationToken);
            }
            else
            {
                vaultError = creation.Failure;
            }
        }

        var published = await effects.PublishAsync(plan, stored, cancellationToken);
        if (published.Failure is { } failed)
        {
            // Status stays at the last true state: nothing planned is recorded as having happened.
            return await HoldAsync(input, failed, effects, time, cancellationToken);
        }

        if (plan.Transitions)
        {
            // Record transition times as of now, after the writes: a key is never said to have been
            // published, or to have stopped signing, before verifiers and signers could see it.
            var settled = Plan(input.Planning, stored, time);
            if (!settled.PublishedKeyIds.SequenceEqual(plan.PublishedKeyIds) || settled.ActiveKeyId != plan.ActiveKeyId)
                return new StepOutcome.Unsettled();
            plan = settled;
        }

        var cleanup = vaultError is null ? VaultCleanup.Decide(stored, plan.Status, input.DeletePrunedKeys) : VaultCleanup.None;
        return new StepOutcome.Moved(plan, stored, vaultError, keyPending, published.Skipped, cleanup, published.External);
    }

    private static RotationPlan Plan(RotationInput planning, IReadOnlyList<StoredKey> stored, TimeProvider time) =>
        RotationPlanner.Plan(planning with { StoredKeys = stored, Now = time.GetUtcNow() });

    private static async Task<StepOutcome> HoldAsync(StepInput input, StepFailure failure, IRotationEffects effects, TimeProvider time, CancellationToken cancellationToken)
    {
        var withdrawal = RotationPlanner.Withdraw(input.Status, input.Revoked, time.GetUtcNow());
        if (await effects.WithdrawAsync(withdrawal.Unpublished, cancellationToken) is { } notWithdrawn)
            return new StepOutcome.NotWithdrawn(failure, notWithdrawn);
        return new StepOutcome.Held(withdrawal, failure);
    }
}
