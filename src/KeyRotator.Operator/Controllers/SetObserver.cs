using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Configuration;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Observability;
using KeyRotator.Operator.Publishing;
using KeyRotator.Operator.Runtime;
using KeyRotator.Operator.Vault;
using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.Controllers;

/// <summary>What verifiers and signers say about the set, each evaluated once per reconcile.</summary>
/// <param name="Propagation">Which keys verifiers and signers hold, counted against the keys status names as active and pending.</param>
/// <param name="UnknownKidSpikeOnActiveKey">The spike rule on failures reported since the active key started signing, when it names that key (rollback).</param>
/// <param name="Spike">The spike rule on the whole window (the SignatureFailureSpike condition).</param>
public sealed record SetSignals(PropagationStatus? Propagation, string? UnknownKidSpikeOnActiveKey, FailureSpike Spike);

/// <summary>
/// One reconcile's view of a set: the step's input (status, revocations, what the planner needs, or why
/// the set is held before anything is read), the vault context, and the signals, each read once.
/// </summary>
public sealed record SetSnapshot(StepInput Input, KeySetContext? Context, SetSignals? Signals);

/// <summary>The observe step: validates the spec, checks the vault grant, and reads the signals.</summary>
public sealed class SetObserver(
    VaultGrants grants, PublishTargets publishTargets, SignatureFailureTracker failures, PropagationTracker propagation, IObjectClient client, IOptions<OperatorOptions> options)
{
    /// <summary>The operator-wide floors and history every set's policy is validated against.</summary>
    public RotationPolicyOptions PolicyOptions { get; } = new()
    {
        MinimumPrePublish = options.Value.MinimumPrePublish,
        MinimumInterval = options.Value.MinimumInterval,
        SignerPropagationAllowance = options.Value.SignerPropagationAllowance,
        RetiredKeyHistory = options.Value.RetiredKeyHistory,
    };

    public async Task<SetSnapshot> ObserveAsync(V1Alpha1SigningKeySet set, CancellationToken cancellationToken)
    {
        var (ns, name) = (set.Metadata.NamespaceProperty, set.Metadata.Name);
        var revoked = new HashSet<string>(set.Spec.RevokedKeyIds ?? [], StringComparer.Ordinal);

        // What may stop the set before anything is read: an invalid spec, or a vault the platform team has
        // not granted to this namespace (never contacted).
        var validation = SpecValidator.Validate(set.Spec, PolicyOptions);
        var problems = validation.Problems.Concat(KeySetSpecRules.Problems(set)).Concat(KeySetSpecRules.ParameterChanges(set)).ToList();
        var hold = problems.Count > 0
            ? new StepFailure(StepFailureKind.Held, Reasons.InvalidSpec, StatusMessage.Join("", "; ", problems))
            : await grants.RefusalAsync(ns, set.Spec.Vault, cancellationToken) is { } refusal
                ? new StepFailure(StepFailureKind.Held, refusal.Reason, refusal.Message)
                : await publishTargets.RefusalAsync(ns, set.Spec.Publish, set.Spec.Jwks, validation.Policy!.PrePublish, cancellationToken) is { } notGranted
                    ? new StepFailure(StepFailureKind.Held, notGranted.Reason, notGranted.Message)
                    : null;
        if (hold is not null)
            return new SetSnapshot(new StepInput(set.Status, revoked, null, hold), null, null);

        var policy = validation.Policy!;
        var signals = SignalsFor(set);
        var planning = new RotationInput
        {
            Propagation = signals.Propagation,
            UnknownKidSpikeOnActiveKey = signals.UnknownKidSpikeOnActiveKey,
            NoRollbackKid = Annotation(set, Labels.NoRollbackAnnotation),
            ForceActivationKid = Annotation(set, Labels.ForceActivationAnnotation),
            Policy = policy,
            Status = set.Status,
            RotateNowRequest = Annotation(set, Labels.RotateNowAnnotation),
            Generation = set.Metadata.Generation ?? 0,
            JitterOffset = policy.JitterFor(set.Metadata.Uid),
            Now = DateTimeOffset.MinValue, // the step fills in the time and the stored keys
        };

        // The Kubernetes store drops pruned keys under every policy: one Secret cannot hold an unbounded history.
        var deletePruned = policy.DeleteKeysOnRemoval || (set.Spec.Vault?.Provider ?? "Kubernetes") == "Kubernetes";
        var input = new StepInput(set.Status, revoked, planning, null, deletePruned);
        return new SetSnapshot(input, new KeySetContext(ns, name, set.Metadata.Uid, policy, set.Spec), signals);
    }

    private SetSignals SignalsFor(V1Alpha1SigningKeySet set)
    {
        var (ns, name) = (set.Metadata.NamespaceProperty, set.Metadata.Name);
        var sinceActivation = set.Status?.Keys?.FirstOrDefault(k => k.Kid == set.Status.ActiveKeyId)?.ActivatedAt is { } activatedAt
            && failures.Evaluate(ns, name, set.Spec.SignatureFailureAlert, activatedAt) is { Spiking: true, Reason: "unknown_kid" } spike
            && spike.Kid == set.Status.ActiveKeyId ? spike.Describe() : null;
        LearnPublished(set);
        return new SetSignals(
            propagation.Evaluate(ns, name, set.Status?.ActiveKeyId, set.Status?.NextKeyId),
            sinceActivation,
            failures.Evaluate(ns, name, set.Spec.SignatureFailureAlert));
    }

    /// <summary>
    /// What the set's own JWKS ConfigMap holds (in its namespace, owned by its UID, from the cache), so that
    /// after a restart or a failover verifiers' hashes are read against what the operator last published for
    /// this set before anything is decided. The tracker hashes the data itself; no annotation is read.
    /// </summary>
    private void LearnPublished(V1Alpha1SigningKeySet set)
    {
        var (ns, name) = (set.Metadata.NamespaceProperty, set.Metadata.Name);
        if (client.Peek<V1ConfigMap>(ns, JwksPublisher.ConfigMapName(set)) is (true, { } configMap)
            && Ownership.IsOwnedBy(configMap.Metadata, SetIdentity.Of(set))
            && configMap.Data?.TryGetValue(JwksPublisher.JwksKey, out var json) == true && json is not null)
            propagation.Published(ns, name, json);
    }

    private static string? Annotation(V1Alpha1SigningKeySet set, string key) =>
        set.Metadata.Annotations?.TryGetValue(key, out var value) == true ? value : null;
}
