using System.Net;
using System.Text.Json;
using k8s;
using k8s.Autorest;
using k8s.Models;
using KeyRotator.Core.Jose;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Core.Model;
using KeyRotator.Operator.Entities;
using KeyRotator.Operator.Hosting;
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
    JwksPublisher jwksPublisher,
    SigningSecretPublisher signingPublisher,
    ObjectWriter writer,
    EventRecorder events,
    OperatorMetrics metrics,
    SignatureFailureTracker failures,
    TimeProvider time,
    IOptions<OperatorOptions> options,
    ILogger<SigningKeySetReconciler> logger)
{
    private readonly SigningKeySetClient _sets = new(kubernetes);
    private readonly RotationPolicyOptions _policyOptions = new()
    {
        MinimumPrePublish = options.Value.MinimumPrePublish,
        MinimumInterval = options.Value.MinimumInterval,
    };

    public async Task<ReconcileResult> ReconcileAsync(string ns, string name, CancellationToken cancellationToken)
    {
        var set = await GetAsync(ns, name, cancellationToken);
        if (set is null)
        {
            metrics.ForgetSet(ns, name);
            failures.Forget(ns, name);
            return ReconcileResult.Done;
        }

        if (set.Metadata.DeletionTimestamp is not null)
            return await FinalizeAsync(set);
        if (set.Metadata.Finalizers?.Contains(Labels.Finalizer) != true)
        {
            set.Metadata.Finalizers ??= [];
            set.Metadata.Finalizers.Add(Labels.Finalizer);
            set = await _sets.ReplaceAsync(set, cancellationToken);
        }

        var validation = SpecValidator.Validate(set.Spec, _policyOptions);
        if (!validation.IsValid)
        {
            await ReportInvalidSpecAsync(set, validation.Message, cancellationToken);
            return ReconcileResult.Done;
        }

        var context = new KeySetContext(ns, name, set.Metadata.Uid, validation.Policy!, set.Spec);
        IKeyStore store;
        List<StoredKey> stored;
        try
        {
            store = stores.For(set.Spec.Vault?.Provider);
            stored = [.. await store.ListAsync(context, cancellationToken)];
        }
        catch (KeyStoreException e)
        {
            // Without the vault's view no key can be created or activated, and what is published stays
            // published, except that a revoked key leaves at once: revocation must not wait for the vault.
            metrics.RotationErrors.WithLabels(ns, name, "vault").Inc();
            await WithdrawRevokedKeysAsync(set, context.Policy, cancellationToken);
            await ReportDegradedAsync(set, e, cancellationToken);
            return ReconcileResult.RetryWithBackoff;
        }

        var plan = Plan(set, context.Policy, stored, time.GetUtcNow());
        KeyStoreException? vaultError = null;
        if (plan.CreateGeneration is { } generation)
        {
            try
            {
                stored.Add(await store.CreateAsync(context, generation, cancellationToken));
                plan = Plan(set, context.Policy, stored, time.GetUtcNow());
            }
            catch (KeyStoreException e)
            {
                vaultError = e;
            }
        }

        var published = await PublishAsync(set, context, store, stored, plan, cancellationToken);
        if (published is not null)
        {
            vaultError ??= published;
        }
        else if (plan.Events.Count > 0)
        {
            // Record transition times as of now, after the writes: a key is never said to have been
            // published, or to have stopped signing, before verifiers and signers could see it.
            var settled = Plan(set, context.Policy, stored, time.GetUtcNow());
            if (!settled.PublishedKeyIds.SequenceEqual(plan.PublishedKeyIds) || settled.ActiveKeyId != plan.ActiveKeyId)
                return ReconcileResult.At(time.GetUtcNow());
            plan = settled;
        }

        var status = WithDegraded(plan.Status, vaultError, set.Metadata.Generation ?? 0);
        var spike = failures.Evaluate(ns, name, set.Spec.SignatureFailureAlert);
        var spikeEvent = SpikeTransition(set.Status, spike);
        status = WithSpike(status, spike, set.Metadata.Generation ?? 0);
        if (!await WriteStatusAsync(set, status, cancellationToken))
            return ReconcileResult.At(time.GetUtcNow());
        if (plan.RotationTrigger is { } trigger)
            metrics.Rotations.WithLabels(ns, name, trigger).Inc();
        ObserveSpike(ns, name, spike);
        metrics.ObserveSet(ns, name, status);
        foreach (var planEvent in spikeEvent is null ? plan.Events : [.. plan.Events, spikeEvent])
            await events.RecordAsync(set, planEvent, cancellationToken);
        if (vaultError is not null)
        {
            metrics.RotationErrors.WithLabels(ns, name, "vault").Inc();
            return ReconcileResult.RetryWithBackoff;
        }

        await CleanUpVaultAsync(context, store, stored, status, cancellationToken);

        // While failures spike, look again soon so that the condition clears once the window is quiet.
        var wake = plan.NextWakeTime;
        if (spike.Spiking || spike.WindowCount > 0)
        {
            var recheck = time.GetUtcNow() + TimeSpan.FromTicks(Math.Min(spike.Window.Ticks / 10, TimeSpan.FromSeconds(30).Ticks));
            wake = wake is null || recheck < wake ? recheck : wake;
        }

        return ReconcileResult.At(wake);
    }

    private static RotationPlan Plan(V1Alpha1SigningKeySet set, RotationPolicy policy, IReadOnlyList<StoredKey> stored, DateTimeOffset now) =>
        RotationPlanner.Plan(new RotationInput
        {
            Policy = policy,
            Status = set.Status,
            StoredKeys = stored,
            RotateNowRequest = set.Metadata.Annotations?.TryGetValue(Labels.RotateNowAnnotation, out var request) == true ? request : null,
            Generation = set.Metadata.Generation ?? 0,
            JitterOffset = policy.JitterFor(set.Metadata.Uid),
            Now = now,
        });

    /// <summary>JWKS first, then the signing Secret. Returns the vault error that stopped it, if any.</summary>
    private async Task<KeyStoreException?> PublishAsync(
        V1Alpha1SigningKeySet set, KeySetContext context, IKeyStore store, IReadOnlyList<StoredKey> stored, RotationPlan plan, CancellationToken cancellationToken)
    {
        var keys = stored.ToDictionary(k => k.Kid, k => k.PublicJwk, StringComparer.Ordinal);
        var missing = plan.PublishedKeyIds.Where(kid => !keys.ContainsKey(kid)).ToList();
        if (missing.Count > 0)
        {
            // Never publish a JWKS without a key that may still have signed a live token.
            return new KeyStoreException($"the vault no longer holds key(s) {string.Join(", ", missing)} that should be published; the JWKS was left as it is")
            {
                Reason = "KeyMissing",
            };
        }

        var jwks = new JwksDocument(plan.PublishedKeyIds.Select(kid => keys[kid]).ToList());
        await jwksPublisher.PublishAsync(set, jwks, plan.ActiveKeyId, cancellationToken);
        await jwksPublisher.RemoveCopiesAsync(set, JwksPublisher.Namespaces(set), options.Value.WatchNamespaces, cancellationToken);

        try
        {
            SignerMaterial? active = null, next = null;
            if (plan.ActiveKeyId is { } activeKid)
                active = await store.GetSignerMaterialAsync(context, stored.First(k => k.Kid == activeKid), cancellationToken);
            if (plan.Status.NextKeyId is { } nextKid)
                next = await store.GetSignerMaterialAsync(context, stored.First(k => k.Kid == nextKid), cancellationToken);
            await signingPublisher.PublishAsync(set, active, next, cancellationToken);
            await signingPublisher.RemoveStaleAsync(set, cancellationToken);
            return null;
        }
        catch (KeyStoreException e)
        {
            return e;
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
                    // Pruned from the history (or left over from an earlier life): never signs again.
                    if (context.Policy.DeleteKeysOnRemoval)
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

    /// <summary>
    /// Invariant 5 while the vault is unreachable: revoked kids are removed from every published JWKS
    /// copy and from the signing Secret, using only what is already published. Status and the vault
    /// catch up once the vault answers.
    /// </summary>
    private async Task WithdrawRevokedKeysAsync(V1Alpha1SigningKeySet set, RotationPolicy policy, CancellationToken cancellationToken)
    {
        if (policy.RevokedKeyIds.Count == 0)
            return;
        var ns = set.Metadata.NamespaceProperty;
        var current = await writer.ReadConfigMapAsync(ns, JwksPublisher.ConfigMapName(set), cancellationToken);
        if (current?.Data?.TryGetValue(JwksPublisher.JwksKey, out var json) != true)
            return;
        var published = JwksDocument.Parse(json!);
        var withdrawn = published.Keys.Where(k => policy.RevokedKeyIds.Contains(k.Kid)).Select(k => k.Kid).ToList();
        var signing = await writer.ReadSecretAsync(ns, SigningSecretPublisher.SecretName(set), cancellationToken);
        var signingKid = signing?.Data?.TryGetValue(SigningSecretPublisher.KidKey, out var kidBytes) == true ? System.Text.Encoding.UTF8.GetString(kidBytes) : null;
        var nextKid = signing?.Data?.TryGetValue(SigningSecretPublisher.NextKidKey, out var nextBytes) == true ? System.Text.Encoding.UTF8.GetString(nextBytes) : null;
        if (withdrawn.Count == 0 && !policy.RevokedKeyIds.Contains(signingKid ?? "") && !policy.RevokedKeyIds.Contains(nextKid ?? ""))
            return;

        var activeKid = set.Status?.ActiveKeyId is { } active && !policy.RevokedKeyIds.Contains(active) ? active : null;
        await jwksPublisher.PublishAsync(set, new JwksDocument(published.Keys.Where(k => !policy.RevokedKeyIds.Contains(k.Kid)).ToList()), activeKid, cancellationToken);
        if (signing is not null)
        {
            var data = new Dictionary<string, byte[]>(signing.Data ?? new Dictionary<string, byte[]>());
            if (policy.RevokedKeyIds.Contains(signingKid ?? ""))
            {
                foreach (var key in new[] { SigningSecretPublisher.KidKey, SigningSecretPublisher.AlgKey, SigningSecretPublisher.PrivateKeyKey, SigningSecretPublisher.KeyReferenceKey })
                    data.Remove(key);
            }

            if (policy.RevokedKeyIds.Contains(nextKid ?? ""))
            {
                foreach (var key in new[] { SigningSecretPublisher.NextKidKey, SigningSecretPublisher.NextPrivateKeyKey, SigningSecretPublisher.NextKeyReferenceKey })
                    data.Remove(key);
            }

            var desired = SigningSecretPublisher.Desired(set, null, null);
            desired.Data = data;
            desired.Metadata.Annotations = null;
            await writer.ApplySecretAsync(desired, cancellationToken);
        }

        foreach (var kid in withdrawn)
        {
            await events.RecordAsync(set, PlanEvent.Warning("KeyRevoked",
                $"Key {kid} was revoked through spec.revokedKeyIds and removed from the JWKS and the signing Secret while the vault is unavailable; it is disabled in the vault once the vault answers"), cancellationToken);
        }
    }

    private async Task<ReconcileResult> FinalizeAsync(V1Alpha1SigningKeySet set)
    {
        if (set.Metadata.Finalizers?.Contains(Labels.Finalizer) != true)
            return ReconcileResult.Done;

        // CancellationToken.None: a cancelled clean-up must not strand the set with its finalizer.
        var ns = set.Metadata.NamespaceProperty;
        foreach (var copy in JwksPublisher.Namespaces(set))
            await writer.DeleteConfigMapAsync(copy, JwksPublisher.ConfigMapName(set), CancellationToken.None);
        await jwksPublisher.RemoveCopiesAsync(set, [], options.Value.WatchNamespaces, CancellationToken.None);
        await writer.DeleteSecretAsync(ns, SigningSecretPublisher.SecretName(set), CancellationToken.None);
        await signingPublisher.RemoveStaleAsync(set, CancellationToken.None);

        var policy = SpecValidator.Validate(set.Spec, _policyOptions).Policy;
        if (policy is not null)
        {
            try
            {
                var context = new KeySetContext(ns, set.Metadata.Name, set.Metadata.Uid, policy, set.Spec);
                await stores.For(set.Spec.Vault?.Provider).RemoveSetAsync(context, deleteKeys: policy.DeleteKeysOnRemoval, CancellationToken.None);
            }
            catch (KeyStoreException e)
            {
                await ReportDegradedAsync(set, e, CancellationToken.None);
                return ReconcileResult.RetryWithBackoff;
            }
        }

        set.Metadata.Finalizers.Remove(Labels.Finalizer);
        try
        {
            await _sets.ReplaceAsync(set, CancellationToken.None);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
        }

        metrics.ForgetSet(ns, set.Metadata.Name);
        LogFinalized(logger, ns, set.Metadata.Name, set.Spec.DeletionPolicy ?? "Retain");
        return ReconcileResult.Done;
    }

    private async Task ReportInvalidSpecAsync(V1Alpha1SigningKeySet set, string message, CancellationToken cancellationToken)
    {
        var generation = set.Metadata.Generation ?? 0;
        var previous = ConditionSet.Find(set.Status?.Conditions, ConditionSet.Ready);
        var status = (set.Status ?? new SigningKeySetStatus()) with
        {
            ObservedGeneration = generation,
            Conditions = ConditionSet.Set(set.Status?.Conditions, ConditionSet.Ready, false, "InvalidSpec", message, generation, time.GetUtcNow()),
        };
        await WriteStatusAsync(set, status, cancellationToken);
        metrics.ObserveSet(set.Metadata.NamespaceProperty, set.Metadata.Name, status);
        if (previous?.Reason != "InvalidSpec" || previous.Message != message)
        {
            metrics.RotationErrors.WithLabels(set.Metadata.NamespaceProperty, set.Metadata.Name, "validation").Inc();
            await events.RecordAsync(set, PlanEvent.Warning("InvalidSpec", message), cancellationToken);
        }
    }

    private async Task ReportDegradedAsync(V1Alpha1SigningKeySet set, KeyStoreException error, CancellationToken cancellationToken)
    {
        var previous = ConditionSet.Find(set.Status?.Conditions, ConditionSet.Degraded);
        var status = WithDegraded(set.Status ?? new SigningKeySetStatus(), error, set.Metadata.Generation ?? 0);
        await WriteStatusAsync(set, status, cancellationToken);
        if (previous?.Status != "True" || previous.Message != error.Message)
            await events.RecordAsync(set, PlanEvent.Warning(error.Reason, error.Message), cancellationToken);
    }

    private SigningKeySetStatus WithDegraded(SigningKeySetStatus status, KeyStoreException? error, long generation) => status with
    {
        Conditions = error is null
            ? ConditionSet.Set(status.Conditions, ConditionSet.Degraded, false, "AsExpected", "The vault and the API server answer", generation, time.GetUtcNow())
            : ConditionSet.Set(status.Conditions, ConditionSet.Degraded, true, error.Reason, error.Message, generation, time.GetUtcNow()),
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
            await _sets.ReplaceStatusAsync(set, cancellationToken);
            return true;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            return false;
        }
    }

    private static readonly JsonSerializerOptions KubernetesJsonOptions = new(JsonSerializerDefaults.Web);

    private async Task<V1Alpha1SigningKeySet?> GetAsync(string ns, string name, CancellationToken cancellationToken)
    {
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

    [LoggerMessage(Level = LogLevel.Information, Message = "{Namespace}/{Name}: deleted; keys handled per deletionPolicy {Policy}")]
    private static partial void LogFinalized(ILogger logger, string @namespace, string name, string policy);
}
