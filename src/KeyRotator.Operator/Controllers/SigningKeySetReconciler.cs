using System.Net;
using System.Text.Json;
using k8s;
using k8s.Autorest;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Configuration;
using KeyRotator.Operator.Informers;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Observability;
using KeyRotator.Operator.Publishing;
using KeyRotator.Operator.Vault;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.Controllers;

/// <summary>
/// Level-based reconcile of one SigningKeySet: re-read the world, let the planner decide, make the few
/// writes that differ (JWKS first, then the signing Secret, then status), and say when to wake up.
/// </summary>
public sealed partial class SigningKeySetReconciler(
    IKubernetes kubernetes,
    KeyStoreSelector stores,
    VaultGrants grants,
    JwksPublisher jwksPublisher,
    SigningSecretPublisher signingPublisher,
    KeyWithdrawer withdrawer,
    ObjectWriter writer,
    EventRecorder events,
    OperatorMetrics metrics,
    SignatureFailureTracker failures,
    PropagationTracker propagation,
    ObjectCache cache,
    TimeProvider time,
    IOptions<OperatorOptions> options,
    ILogger<SigningKeySetReconciler> logger)
{
    private readonly SigningKeySetClient _sets = new(kubernetes);
    private readonly RotationPolicyOptions _policyOptions = new()
    {
        MinimumPrePublish = options.Value.MinimumPrePublish,
        MinimumInterval = options.Value.MinimumInterval,
        SignerPropagationAllowance = options.Value.SignerPropagationAllowance,
        RetiredKeyHistory = options.Value.RetiredKeyHistory,
    };

    public async Task<ReconcileResult> ReconcileAsync(string ns, string name, CancellationToken cancellationToken)
    {
        var set = await GetAsync(ns, name, cancellationToken);
        if (set is null)
        {
            metrics.ForgetSet(ns, name);
            cache.Forget(ns, name);
            failures.Forget(ns, name);
            propagation.Forget(ns, name);
            return ReconcileResult.Done;
        }

        if (set.Metadata.DeletionTimestamp is not null)
            return await FinalizeAsync(set);
        if (set.Metadata.Finalizers?.Contains(Labels.Finalizer) != true)
        {
            set.Metadata.Finalizers ??= [];
            set.Metadata.Finalizers.Add(Labels.Finalizer);
            var over = set.Metadata.ResourceVersion;
            set = await _sets.ReplaceAsync(set, cancellationToken);
            cache.Wrote(over, set);
        }

        // What may stop the set before anything is read: an invalid spec, or a vault the platform team has
        // not granted to this namespace (never contacted).
        var validation = SpecValidator.Validate(set.Spec, _policyOptions);
        var problems = validation.Problems.Concat(KeySetSpecRules.Problems(set)).Concat(KeySetSpecRules.ParameterChanges(set)).ToList();
        var hold = problems.Count > 0
            ? new StepFailure(StepFailureKind.Held, "InvalidSpec", string.Join("; ", problems))
            : await grants.RefusalAsync(ns, set.Spec.Vault, cancellationToken) is { } refusal
                ? new StepFailure(StepFailureKind.Held, refusal.Reason, refusal.Message)
                : null;

        var context = hold is null ? new KeySetContext(ns, name, set.Metadata.Uid, validation.Policy!, set.Spec) : null;
        var signals = hold is null ? SignalsFor(set) : null;
        var revoked = new HashSet<string>(set.Spec.RevokedKeyIds ?? [], StringComparer.Ordinal);
        var input = new StepInput(set.Status, revoked, context is null ? null : PlanningFor(set, context.Policy, signals!), hold);
        var effects = new Effects(this, stores, withdrawer, set, context);
        var outcome = await RotationStep.RunAsync(input, effects, time, cancellationToken);
        switch (outcome)
        {
            case StepOutcome.Held { Failure.Kind: StepFailureKind.Held } held:
                return await HoldAsync(set, held.Withdrawal, held.Failure.Reason, held.Failure.Message, cancellationToken);
            case StepOutcome.Held degraded:
                return await HoldDegradedAsync(set, degraded.Withdrawal, degraded.Failure, degraded.Failure.Reason == "PublishFailed" ? "publish" : "vault", cancellationToken);
            case StepOutcome.WaitingForFirstKey:
                return ReconcileResult.Done;
            case StepOutcome.Unsettled:
                return ReconcileResult.At(time.GetUtcNow());
        }

        var (plan, stored, vaultError, keyPending, skippedTargets) = (StepOutcome.Moved)outcome;
        var status = WithDegraded(plan.Status, vaultError, skippedTargets, set.Metadata.Generation ?? 0) with
        {
            KeyParameters = set.Status?.KeyParameters ?? (plan.Status.Keys is { Count: > 0 } ? KeySetSpecRules.ParametersOf(set.Spec) : null),
            SkippedTargets = skippedTargets.Count == 0 ? null : [.. skippedTargets],
            Propagation = propagation.Evaluate(ns, name, plan.Status.ActiveKeyId, plan.Status.NextKeyId),
        };
        var spike = failures.Evaluate(ns, name, set.Spec.SignatureFailureAlert);
        var spikeEvent = SpikeTransition(set.Status, spike);
        status = WithSpike(status, spike, set.Metadata.Generation ?? 0);
        var previousSkipped = set.Status?.SkippedTargets ?? [];
        var previousConditions = set.Status?.Conditions;
        if (!await WriteStatusAsync(set, status, cancellationToken))
            return ReconcileResult.At(time.GetUtcNow());
        if (plan.RotationTrigger is { } trigger)
            metrics.Rotations.WithLabels(ns, name, trigger).Inc();
        ObserveSpike(ns, name, spike);
        metrics.ObserveSet(ns, name, status);
        foreach (var planEvent in spikeEvent is null ? plan.Events : [.. plan.Events, spikeEvent])
            await events.RecordAsync(set, planEvent, cancellationToken);
        foreach (var skipped in skippedTargets.Where(p => !previousSkipped.Any(q => q.Namespace == p.Namespace && q.Reason == p.Reason)))
            await events.RecordAsync(set, PlanEvent.Warning(skipped.Reason, $"No JWKS copy in namespace {skipped.Namespace}: {skipped.Message}"), cancellationToken);
        if (vaultError is not null)
        {
            metrics.RotationErrors.WithLabels(ns, name, "vault").Inc();
            if (ConditionSet.Find(previousConditions, ConditionSet.Degraded) is not { Status: "True" } was || was.Message != vaultError.Message)
                await events.RecordAsync(set, PlanEvent.Warning(vaultError.Reason, vaultError.Message), cancellationToken);
            return ReconcileResult.RetryWithBackoff;
        }

        await CleanUpVaultAsync(context!, effects.Store!, stored, status, cancellationToken);

        // While failures spike, look again soon so that the condition clears once the window is quiet.
        // (A key still being generated wakes the set itself: until then only the timed transitions count.)
        var wake = keyPending ? plan.NextTimedWakeTime : plan.NextWakeTime;
        if (spike.Spiking || spike.WindowCount > 0)
        {
            var recheck = time.GetUtcNow() + TimeSpan.FromTicks(Math.Min(spike.Window.Ticks / 10, TimeSpan.FromSeconds(30).Ticks));
            wake = wake is null || recheck < wake ? recheck : wake;
        }

        // A verifier or signer that stops reporting drops out of the window: look again then.
        if (propagation.NextExpiry(ns, name) is { } expiry)
        {
            var recheck = expiry + TimeSpan.FromSeconds(1);
            wake = wake is null || recheck < wake ? recheck : wake;
        }

        // A skipped copy may become possible (namespace created, opt-in added) without any watched object changing.
        if (skippedTargets.Count > 0)
        {
            var retry = time.GetUtcNow() + TimeSpan.FromSeconds(30);
            wake = wake is null || retry < wake ? retry : wake;
        }

        return ReconcileResult.At(wake);
    }

    /// <summary>
    /// Nothing may move forward (an invalid spec, a name conflict): only what safety demands happens.
    /// Revoked and retired keys leave every JWKS copy and the signing Secret, status says why the set
    /// is held, and the set is looked at again when the next Retiring key's overlap ends.
    /// </summary>
    private async Task<ReconcileResult> HoldAsync(V1Alpha1SigningKeySet set, Withdrawal withdrawal, string reason, string message, CancellationToken cancellationToken)
    {
        var generation = set.Metadata.Generation ?? 0;
        var previous = ConditionSet.Find(set.Status?.Conditions, ConditionSet.Ready);
        var status = withdrawal.Status with
        {
            ObservedGeneration = generation,
            Conditions = ConditionSet.Set(withdrawal.Status.Conditions, ConditionSet.Ready, false, reason, message, generation, time.GetUtcNow()),
        };
        await WriteStatusAsync(set, status, cancellationToken);
        metrics.ObserveSet(set.Metadata.NamespaceProperty, set.Metadata.Name, status);
        foreach (var planEvent in withdrawal.Events)
            await events.RecordAsync(set, planEvent, cancellationToken);
        if (previous?.Reason != reason || previous.Message != message)
        {
            metrics.RotationErrors.WithLabels(set.Metadata.NamespaceProperty, set.Metadata.Name, reason is "InvalidSpec" or HoldReasons.VaultNotGranted or HoldReasons.LibraryNotAllowed ? "validation" : "publish").Inc();
            await events.RecordAsync(set, PlanEvent.Warning(reason, message), cancellationToken);
        }

        // A conflict or a missing grant can clear without the set changing (the other object deleted, a
        // ClusterKeyVault created): look again.
        var wake = reason is "NameConflict" or HoldReasons.VaultNotGranted ? time.GetUtcNow() + TimeSpan.FromSeconds(30) : (DateTimeOffset?)null;
        if (withdrawal.NextRetirement is { } retirement && (wake is null || retirement < wake))
            wake = retirement;
        return ReconcileResult.At(wake);
    }

    /// <summary>The vault, reading signer material or writing a JWKS copy failed: safety still happens, status says what failed.</summary>
    private async Task<ReconcileResult> HoldDegradedAsync(V1Alpha1SigningKeySet set, Withdrawal withdrawal, StepFailure error, string stage, CancellationToken cancellationToken)
    {
        metrics.RotationErrors.WithLabels(set.Metadata.NamespaceProperty, set.Metadata.Name, stage).Inc();
        var previous = ConditionSet.Find(set.Status?.Conditions, ConditionSet.Degraded);
        var status = WithDegraded(withdrawal.Status, error, [], set.Metadata.Generation ?? 0);
        await WriteStatusAsync(set, status, cancellationToken);
        metrics.ObserveSet(set.Metadata.NamespaceProperty, set.Metadata.Name, status);
        foreach (var planEvent in withdrawal.Events)
            await events.RecordAsync(set, planEvent, cancellationToken);
        if (previous?.Status != "True" || previous.Message != error.Message)
            await events.RecordAsync(set, PlanEvent.Warning(error.Reason, error.Message), cancellationToken);
        return ReconcileResult.RetryWithBackoff;
    }

    /// <summary>Who holds a name that publishing found taken (read when it happens, for the NameConflict message).</summary>
    private static async Task<string> HolderAsync<T>(Task<T?> read)
        where T : class, IMetadata<V1ObjectMeta> =>
        await read is { } holder ? Ownership.DescribeHolder(holder.Metadata) : AnotherOwner;

    /// <summary>A publishing request the API server refused, named by request and answer (never by content).</summary>
    private static KeyStoreException PublishFailed(HttpOperationException e) =>
        new($"could not publish: {ApiAnswer.Describe(e)}; the rotation waits (no key is activated) until this write succeeds")
        {
            Reason = "PublishFailed",
        };

    private static string JwksNameConflict(string ns, string name, string holder) =>
        $"ConfigMap {ns}/{name} (spec.jwks.configMapName) belongs to {holder} and was left unchanged; choose another spec.jwks.configMapName, or delete or rename that ConfigMap";

    private static string SigningNameConflict(string ns, string name, string holder) =>
        $"Secret {ns}/{name} (spec.signingSecretName) belongs to {holder} and was left unchanged; choose another spec.signingSecretName, or delete or rename that Secret";

    private const string AnotherOwner = "another owner";

    /// <summary>What verifiers and signers say about the set, evaluated once per reconcile however often it is planned.</summary>
    private sealed record Signals(PropagationStatus? Propagation, string? UnknownKidSpikeOnActiveKey);

    private Signals SignalsFor(V1Alpha1SigningKeySet set)
    {
        var (ns, name) = (set.Metadata.NamespaceProperty, set.Metadata.Name);
        return new Signals(
            // Which keys verifiers and signers hold, counted against the keys status names as active and pending.
            propagation.Evaluate(ns, name, set.Status?.ActiveKeyId, set.Status?.NextKeyId),
            // The spike rule on the failures reported since the active key started signing, naming that key.
            set.Status?.Keys?.FirstOrDefault(k => k.Kid == set.Status.ActiveKeyId)?.ActivatedAt is { } activatedAt
                && failures.Evaluate(ns, name, set.Spec.SignatureFailureAlert, activatedAt) is { Spiking: true, Reason: "unknown_kid" } spike
                && spike.Kid == set.Status.ActiveKeyId ? spike.Describe() : null);
    }

    /// <summary>What the planner needs for this set (the step fills in the stored keys and the time).</summary>
    private static RotationInput PlanningFor(V1Alpha1SigningKeySet set, RotationPolicy policy, Signals signals) => new()
    {
        Propagation = signals.Propagation,
        UnknownKidSpikeOnActiveKey = signals.UnknownKidSpikeOnActiveKey,
        NoRollbackKid = set.Metadata.Annotations?.TryGetValue(Labels.NoRollbackAnnotation, out var noRollback) == true ? noRollback : null,
        ForceActivationKid = set.Metadata.Annotations?.TryGetValue(Labels.ForceActivationAnnotation, out var force) == true ? force : null,
        Policy = policy,
        Status = set.Status,
        RotateNowRequest = set.Metadata.Annotations?.TryGetValue(Labels.RotateNowAnnotation, out var request) == true ? request : null,
        Generation = set.Metadata.Generation ?? 0,
        JitterOffset = policy.JitterFor(set.Metadata.Uid),
        Now = DateTimeOffset.MinValue,
    };

    /// <summary>
    /// The step's effects on Kubernetes and the set's vault. Vault and API failures become step failures:
    /// a name someone else holds holds the set (Ready=False NameConflict); anything else degrades it.
    /// </summary>
    private sealed class Effects(SigningKeySetReconciler reconciler, KeyStoreSelector stores, KeyWithdrawer withdrawer, V1Alpha1SigningKeySet set, KeySetContext? context) : IRotationEffects
    {
        /// <summary>The set's key store, once the vault was read.</summary>
        public IKeyStore? Store { get; private set; }

        public async Task<KeyListing> ListKeysAsync(CancellationToken cancellationToken)
        {
            try
            {
                Store = stores.For(set.Spec.Vault?.Provider);
                return KeyListing.Of([.. await Store.ListAsync(context!, cancellationToken)]);
            }
            catch (KeyStoreException e)
            {
                // Without the vault's view no key can be created or activated, and what is published stays
                // published, except that revoked and retired keys leave at once: safety never waits.
                return KeyListing.Failed(Failure(e));
            }
        }

        public async Task<KeyCreation> CreateKeyAsync(long generation, CancellationToken cancellationToken)
        {
            // The key may be generated off the workers; the set is reconciled again when it is ready.
            if (Store is IPreparesKeys keys && !keys.IsReady(context!, generation))
                return KeyCreation.NotReady;
            try
            {
                // Names are checked where they are written: publishing creates without reading, and a name held
                // by anything else answers 409, is read, and holds the set at NameConflict before a key signs.
                return KeyCreation.Created(await Store!.CreateAsync(context!, generation, cancellationToken));
            }
            catch (KeyStoreException e)
            {
                return KeyCreation.Failed(Failure(e));
            }
        }

        public async Task<PublishResult> PublishAsync(RotationPlan plan, IReadOnlyList<StoredKey> stored, CancellationToken cancellationToken)
        {
            var outcome = await reconciler.PublishAsync(set, context!, Store!, stored, plan, cancellationToken);
            return outcome switch
            {
                { Conflict: { } conflict } => PublishResult.Failed(new StepFailure(StepFailureKind.Held, "NameConflict", conflict), outcome.Skipped),
                { Error: { } error } => PublishResult.Failed(Failure(error), outcome.Skipped),
                _ => PublishResult.Done(outcome.Skipped),
            };
        }

        public Task WithdrawAsync(IReadOnlySet<string> unpublished, CancellationToken cancellationToken) =>
            withdrawer.WithdrawAsync(set, unpublished, cancellationToken);

        private static StepFailure Failure(KeyStoreException e) =>
            new(e.Reason == "NameConflict" ? StepFailureKind.Held : StepFailureKind.Degraded, e.Reason, e.Message);
    }

    /// <summary>What publishing did: a vault or API error or a name conflict that stopped it, and the copies skipped.</summary>
    private sealed record PublishOutcome(KeyStoreException? Error, string? Conflict, IReadOnlyList<SkippedTarget> Skipped);

    /// <summary>JWKS first (every accepted copy), then the signing Secret.</summary>
    private async Task<PublishOutcome> PublishAsync(
        V1Alpha1SigningKeySet set, KeySetContext context, IKeyStore store, IReadOnlyList<StoredKey> stored, RotationPlan plan, CancellationToken cancellationToken)
    {
        var keys = stored.ToDictionary(k => k.Kid, k => k.PublicJwk, StringComparer.Ordinal);
        var missing = plan.PublishedKeyIds.Where(kid => !keys.ContainsKey(kid)).ToList();
        if (missing.Count > 0)
        {
            // Never publish a JWKS without a key that may still have signed a live token.
            return new PublishOutcome(new KeyStoreException($"the vault no longer holds key(s) {string.Join(", ", missing)} that should be published; the JWKS was left as it is")
            {
                Reason = "KeyMissing",
            }, null, []);
        }

        var jwks = new JwksDocument(plan.PublishedKeyIds.Select(kid => keys[kid]).ToList());
        var problems = new List<SkippedTarget>();
        try
        {
            var (accepted, skipped) = await jwksPublisher.ResolveTargetsAsync(set, cancellationToken);
            problems.AddRange(skipped);
            var written = new List<string>();
            foreach (var (ns, result) in await jwksPublisher.PublishAsync(set, jwks, plan.ActiveKeyId, accepted, cancellationToken))
            {
                if (result != ApplyResult.NotOwned)
                    written.Add(ns);
                else if (ns == set.Metadata.NamespaceProperty)
                {
                    var name = JwksPublisher.ConfigMapName(set);
                    return new PublishOutcome(null, JwksNameConflict(ns, name, await HolderAsync(writer.ReadConfigMapAsync(ns, name, cancellationToken))), []);
                }
                else
                    problems.Add(JwksPublisher.Skipped(ns, "NameConflict", JwksNameConflict(ns, JwksPublisher.ConfigMapName(set), AnotherOwner)));
            }

            await jwksPublisher.RemoveCopiesAsync(set, written, options.Value.WatchNamespaces, cancellationToken);

            // The vault is asked for private keys only when the signing Secret needs them written: on a
            // new active or next key, after a restart, or when someone changed the Secret.
            if (!signingPublisher.IsCurrent(set, plan.ActiveKeyId, plan.Status.NextKeyId))
            {
                var wanted = new[] { plan.ActiveKeyId, plan.Status.NextKeyId }.OfType<string>().Select(kid => stored.First(k => k.Kid == kid)).ToList();
                var materials = wanted.Count == 0 ? [] : await store.GetSignerMaterialsAsync(context, wanted, cancellationToken);
                var active = materials.FirstOrDefault(m => m.Kid == plan.ActiveKeyId);
                var next = materials.FirstOrDefault(m => m.Kid == plan.Status.NextKeyId);
                if (await signingPublisher.PublishAsync(set, active, next, cancellationToken) == ApplyResult.NotOwned)
                {
                    var (ns, name) = (set.Metadata.NamespaceProperty, SigningSecretPublisher.SecretName(set));
                    return new PublishOutcome(null, SigningNameConflict(ns, name, await HolderAsync(writer.ReadSecretAsync(ns, name, cancellationToken))), problems);
                }
            }

            await signingPublisher.RemoveStaleAsync(set, cancellationToken);
            return new PublishOutcome(null, null, problems);
        }
        catch (KeyStoreException e)
        {
            return new PublishOutcome(e, null, problems);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode is not (HttpStatusCode.Conflict or HttpStatusCode.NotFound))
        {
            // A write the API server refuses (a copy, the signing Secret) holds the rotation back (no key
            // activates while a copy lacks it), but not safety: the caller still withdraws revoked and
            // retired keys from everything it can write.
            return new PublishOutcome(PublishFailed(e), null, problems);
        }
    }

    /// <summary>Level-based vault hygiene: retired and revoked keys disabled; pruned keys deleted under the Delete policy.</summary>
    private async Task CleanUpVaultAsync(KeySetContext context, IKeyStore store, IReadOnlyList<StoredKey> stored, SigningKeySetStatus status, CancellationToken cancellationToken)
    {
        var known = (status.Keys ?? []).ToDictionary(k => k.Kid, StringComparer.Ordinal);
        var newestGeneration = (status.Keys ?? []).Select(k => k.Generation).DefaultIfEmpty(0).Max();
        try
        {
            foreach (var key in stored)
            {
                if (known.TryGetValue(key.Kid, out var state))
                {
                    if (key.Enabled && state.State is KeyState.Retired or KeyState.Revoked)
                        await store.DisableAsync(context, key.Kid, cancellationToken);
                }
                else if (key.Generation < newestGeneration)
                {
                    // Pruned from the history: never signs again. The Kubernetes store drops it under every
                    // policy (one Secret cannot hold an unbounded history); vaults disable and mark it.
                    if (context.Policy.DeleteKeysOnRemoval || store.Provider == "Kubernetes")
                        await store.DeleteAsync(context, key.Kid, cancellationToken);
                    else if (key.Enabled)
                        await store.DisableAsync(context, key.Kid, cancellationToken);
                }
            }
        }
        catch (KeyStoreException e)
        {
            LogVaultCleanupFailed(logger, context.Namespace, context.Name, e.Message);
        }
    }

    private async Task<ReconcileResult> FinalizeAsync(V1Alpha1SigningKeySet set)
    {
        if (set.Metadata.Finalizers?.Contains(Labels.Finalizer) != true)
            return ReconcileResult.Done;

        // CancellationToken.None: a cancelled clean-up must not strand the set with its finalizer.
        // Only objects that belong to this set are deleted; a name held by anything else stays.
        var ns = set.Metadata.NamespaceProperty;
        var owner = SetIdentity.Of(set);
        foreach (var copy in JwksPublisher.Namespaces(set))
            await writer.DeleteOwnedConfigMapAsync(copy, JwksPublisher.ConfigMapName(set), owner, CancellationToken.None);
        await jwksPublisher.RemoveCopiesAsync(set, [], options.Value.WatchNamespaces, CancellationToken.None);
        await writer.DeleteOwnedSecretAsync(ns, SigningSecretPublisher.SecretName(set), owner, CancellationToken.None);
        await signingPublisher.RemoveStaleAsync(set, CancellationToken.None);
        signingPublisher.Forget(set.Metadata.Uid);

        var deleteKeys = set.Spec.DeletionPolicy == "Delete";
        if (KeySetSpecRules.RemovalContext(set, _policyOptions) is not { } context)
        {
            // The vault section itself is unusable: there is no vault to clean up.
            await events.RecordAsync(set, PlanEvent.Warning("KeysNotRemoved",
                "The set was deleted, but spec.vault does not say where its keys are, so the vault was not cleaned up; remove them by hand if deletionPolicy was Delete"), CancellationToken.None);
        }
        else if (await grants.RefusalAsync(ns, set.Spec.Vault, CancellationToken.None) is { } refusal)
        {
            // Deleting a set must not reach a vault its namespace may not use (another team's keys).
            await events.RecordAsync(set, PlanEvent.Warning("KeysNotRemoved",
                $"The set was deleted without touching its vault: {refusal.Message}"), CancellationToken.None);
        }
        else
        {
            try
            {
                await stores.For(set.Spec.Vault?.Provider).RemoveSetAsync(context, deleteKeys, CancellationToken.None);
            }
            catch (KeyStoreException e) when (e.Reason == "PinSecretMissing")
            {
                // Without the PIN nobody can log in to clean up, and keeping the set would not bring the PIN back.
                await events.RecordAsync(set, PlanEvent.Warning("KeysNotRemoved",
                    $"The set was deleted without touching its keys on the token: {e.Message}. Its keys (CKA_LABEL kr:{set.Metadata.Uid}:*) stay on the token; remove them with the token's tools if deletionPolicy was Delete"), CancellationToken.None);
            }
            catch (KeyStoreException e)
            {
                // Keep the finalizer: the keys must not be left behind silently. Status and an Event say why.
                var previous = ConditionSet.Find(set.Status?.Conditions, ConditionSet.Degraded);
                var message = $"The set is being deleted but its keys could not be {(deleteKeys ? "deleted" : "retained")}: {e.Message}; the finalizer stays until this succeeds";
                await WriteStatusAsync(set, (set.Status ?? new SigningKeySetStatus()) with
                {
                    Conditions = ConditionSet.Set(set.Status?.Conditions, ConditionSet.Degraded, true, e.Reason, message, set.Metadata.Generation ?? 0, time.GetUtcNow()),
                }, CancellationToken.None);
                if (previous?.Message != message)
                    await events.RecordAsync(set, PlanEvent.Warning(e.Reason, message), CancellationToken.None);
                return ReconcileResult.RetryWithBackoff;
            }
        }

        set.Metadata.Finalizers.Remove(Labels.Finalizer);
        var over = set.Metadata.ResourceVersion;
        try
        {
            var updated = await _sets.ReplaceAsync(set, CancellationToken.None);

            // With the last finalizer gone the API server deletes the set: until the cache hears of it,
            // the set is gone for this operator (finalizing it again would repeat its Events).
            if (updated.Metadata.Finalizers is not { Count: > 0 })
                cache.WroteGone(ns, set.Metadata.Name, over);
            else
                cache.Wrote(over, updated);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
        }

        metrics.ForgetSet(ns, set.Metadata.Name);
        LogFinalized(logger, ns, set.Metadata.Name, set.Spec.DeletionPolicy ?? "Retain");
        return ReconcileResult.Done;
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
            var set = await GetAsync(ns, name, cancellationToken);
            if (set is null)
                return;
            var message = $"The reconcile failed and is retried with backoff: {DescribeFailure(error)}";
            var previous = ConditionSet.Find(set.Status?.Conditions, ConditionSet.Degraded);
            var status = (set.Status ?? new SigningKeySetStatus()) with
            {
                Conditions = ConditionSet.Set(set.Status?.Conditions, ConditionSet.Degraded, true, ReconcileFailedReason, message, set.Metadata.Generation ?? 0, time.GetUtcNow()),
            };
            await WriteStatusAsync(set, status, cancellationToken);
            if (previous?.Status != "True" || previous.Message != message)
                await events.RecordAsync(set, PlanEvent.Warning(ReconcileFailedReason, message), cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogFailureNotReported(logger, ns, name, e.GetType().Name);
        }
    }

    /// <summary>The condition reason for a failure that no other path of the reconcile names.</summary>
    public const string ReconcileFailedReason = "ReconcileFailed";

    /// <summary>What failed, safe for status and Events: the API request and answer, or the exception's type and (bounded) message.</summary>
    public static string DescribeFailure(Exception error) => error switch
    {
        HttpOperationException http => ApiAnswer.Describe(http),
        KeyStoreException vault => vault.Message,
        _ => $"{error.GetType().Name}: {(error.Message.Length > 300 ? error.Message[..300] + "…" : error.Message)}",
    };

    private SigningKeySetStatus WithDegraded(SigningKeySetStatus status, StepFailure? error, IReadOnlyList<SkippedTarget> skipped, long generation) => status with
    {
        Conditions = error is not null
            ? ConditionSet.Set(status.Conditions, ConditionSet.Degraded, true, error.Reason, error.Message, generation, time.GetUtcNow())
            : skipped.Count > 0
                ? ConditionSet.Set(status.Conditions, ConditionSet.Degraded, true, skipped.Any(p => p.Reason == "NameConflict") ? "NameConflict" : "CopiesSkipped",
                    $"{skipped.Count} of spec.jwks.targetNamespaces hold no JWKS copy (see status.skippedTargets): " + string.Join("; ", skipped.Select(p => p.Message)), generation, time.GetUtcNow())
                : ConditionSet.Set(status.Conditions, ConditionSet.Degraded, false, "AsExpected", "The vault and the API server answer", generation, time.GetUtcNow()),
    };

    private static PlanEvent? SpikeTransition(SigningKeySetStatus? previous, FailureSpike spike)
    {
        var was = ConditionSet.IsTrue(previous?.Conditions, ConditionSet.SignatureFailureSpike);
        return (was, spike.Spiking) switch
        {
            (false, true) => PlanEvent.Warning("SignatureFailureSpike", spike.Describe()),
            (true, false) => PlanEvent.Normal("SignatureFailuresSubsided", $"Reported signature failures are back to normal ({spike.WindowCount} in the last window)"),
            _ => null,
        };
    }

    private SigningKeySetStatus WithSpike(SigningKeySetStatus status, FailureSpike spike, long generation) => status with
    {
        Conditions = spike.Spiking
            ? ConditionSet.Set(status.Conditions, ConditionSet.SignatureFailureSpike, true, "SpikeDetected", spike.Describe(), generation, time.GetUtcNow())
            : ConditionSet.Set(status.Conditions, ConditionSet.SignatureFailureSpike, false, "NoSpike", "Reported signature failures are within the baseline", generation, time.GetUtcNow()),
    };

    private void ObserveSpike(string ns, string name, FailureSpike spike)
    {
        foreach (var labels in metrics.FailureSpike.GetAllLabelValues().Where(l => l[0] == ns && l[1] == name).ToList())
        {
            if (!spike.Spiking || labels[2] != spike.Reason || labels[3] != spike.Kid)
                metrics.FailureSpike.RemoveLabelled(labels);
        }

        if (spike.Spiking)
            metrics.FailureSpike.WithLabels(ns, name, spike.Reason ?? "", spike.Kid ?? "").Set(1);
    }

    /// <summary>Writes status only when it changed; false on a conflict (the caller re-reads).</summary>
    private async Task<bool> WriteStatusAsync(V1Alpha1SigningKeySet set, SigningKeySetStatus status, CancellationToken cancellationToken)
    {
        if (JsonSerializer.Serialize(set.Status, KubernetesJsonOptions) == JsonSerializer.Serialize(status, KubernetesJsonOptions))
            return true;
        set.Status = status;
        try
        {
            var over = set.Metadata.ResourceVersion;
            cache.Wrote(over, await _sets.ReplaceStatusAsync(set, cancellationToken));
            return true;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            return false;
        }
    }

    private static readonly JsonSerializerOptions KubernetesJsonOptions = new(JsonSerializerDefaults.Web);

    /// <summary>The set from the informer (with the operator's own last write), or from the API server when the cache cannot say.</summary>
    private async Task<V1Alpha1SigningKeySet?> GetAsync(string ns, string name, CancellationToken cancellationToken)
    {
        var (known, cached) = cache.TryGetSet(ns, name);
        if (known)
            return cached;
        try
        {
            return await _sets.GetAsync(ns, name, cancellationToken);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Namespace}/{Name}: vault clean-up failed, will retry: {Error}")]
    private static partial void LogVaultCleanupFailed(ILogger logger, string @namespace, string name, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Namespace}/{Name}: could not record a reconcile failure on the set ({Error})")]
    private static partial void LogFailureNotReported(ILogger logger, string @namespace, string name, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Namespace}/{Name}: deleted; keys handled per deletionPolicy {Policy}")]
    private static partial void LogFinalized(ILogger logger, string @namespace, string name, string policy);
}
