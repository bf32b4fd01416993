using k8s;
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
/// <param name="UnknownKidSpikeOnActiveKey">The rollback signal (<see cref="RollbackRule"/>), when there is one.</param>
/// <param name="Spike">The spike rule on the whole window (the SignatureFailureSpike condition).</param>
/// <param name="NextReporterExpiry">When the next verifier or signer that reported drops out of the window.</param>
public sealed record SetSignals(PropagationStatus? Propagation, string? UnknownKidSpikeOnActiveKey, SpikeSignal Spike, DateTimeOffset? NextReporterExpiry);

/// <summary>
/// One reconcile's view of a set: the step's input (status, revocations, what the planner needs, or why
/// the set is held before anything is read), the vault context, and the signals, each read once.
/// </summary>
public sealed record SetSnapshot(StepInput Input, KeySetContext? Context, SetSignals? Signals);

/// <summary>
/// The observe step: reads everything that can hold the set (spec, grants, names others hold) into
/// <see cref="HoldFacts"/>, lets <see cref="Holds"/> decide, and reads the signals. It decides nothing itself.
/// </summary>
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

        // Every fact that can hold the set, all gathered (the vault is never contacted for them).
        var validation = SpecValidator.Validate(set.Spec, PolicyOptions);
        var facts = new HoldFacts(
            [.. validation.Problems, .. KeySetSpecRules.Problems(set)],
            [.. KeySetSpecRules.ParameterChanges(set)],
            await grants.RefusalAsync(ns, set.Spec.Vault, cancellationToken) is { } refusal ? new HoldProblem(refusal.Reason, refusal.Message) : null,
            await publishTargets.RefusalsAsync(ns, set.Spec.Publish, set.Spec.Jwks, validation.Policy?.PrePublish, cancellationToken),
            NamesHeld(set));
        if (Holds.Decide(facts) is { } hold)
            return new SetSnapshot(new StepInput(set.Status, revoked, null, hold), null, null);

        var policy = validation.Policy!;
        var signals = SignalsFor(set);
        var planning = new RotationInput
        {
            Propagation = signals.Propagation,
            UnknownKidSpikeOnActiveKey = signals.UnknownKidSpikeOnActiveKey,
            NoRollbackKid = Annotation(set, Labels.NoRollbackAnnotation),
            ForceActivationKid = Annotation(set, Labels.ForceActivationAnnotation),
            SigningKid = SigningKid(set),
            Policy = policy,
            Status = set.Status,
            RotateNowRequest = Annotation(set, Labels.RotateNowAnnotation),
            Generation = set.Metadata.Generation ?? 0,
            JitterOffset = policy.JitterFor(set.Metadata.Uid),
            Now = DateTimeOffset.MinValue, // the step fills in the time and the stored keys
        };

        var input = new StepInput(set.Status, revoked, planning, null, VaultCleanup.DeletesPruned(policy.DeleteKeysOnRemoval, set.Spec.Vault?.Provider));
        return new SetSnapshot(input, new KeySetContext(ns, name, set.Metadata.Uid, policy, set.Spec), signals);
    }

    /// <summary>Which keys verifiers and signers hold for <paramref name="status"/>'s keys, read after the plan was published.</summary>
    public PropagationStatus? PropagationOf(V1Alpha1SigningKeySet set, SigningKeySetStatus status) =>
        propagation.Evaluate(set.Metadata.NamespaceProperty, set.Metadata.Name, status.ActiveKeyId, status.NextKeyId);

    /// <summary>
    /// The set's own JWKS ConfigMap and signing Secret as the cache knows them: a labelled object another set
    /// owns holds the name (an unlabelled one is found when the write answers 409).
    /// </summary>
    private List<NameHeld> NamesHeld(V1Alpha1SigningKeySet set)
    {
        var ns = set.Metadata.NamespaceProperty;
        var owner = SetIdentity.Of(set);
        var held = new List<NameHeld>();
        Check<V1ConfigMap>("ConfigMap", JwksPublisher.ConfigMapName(set), "spec.jwks.configMapName");
        Check<V1Secret>("Secret", SigningSecretPublisher.SecretName(set), "spec.signingSecretName");
        return held;

        void Check<T>(string kind, string name, string field)
            where T : class, IKubernetesObject<V1ObjectMeta>
        {
            if (client.Peek<T>(ns, name) is (true, { } existing) && !Ownership.IsOwnedBy(existing.Metadata, owner))
                held.Add(new NameHeld(kind, ns, name, field, Ownership.DescribeHolder(existing.Metadata)));
        }
    }

    /// <summary>The kid the set's own signing Secret names, as the cache knows it.</summary>
    private string? SigningKid(V1Alpha1SigningKeySet set) =>
        client.Peek<V1Secret>(set.Metadata.NamespaceProperty, SigningSecretPublisher.SecretName(set)) is (true, { } secret)
        && Ownership.IsOwnedBy(secret.Metadata, SetIdentity.Of(set))
        && secret.Metadata.Annotations?.TryGetValue(Labels.ActiveKidAnnotation, out var kid) == true ? kid : null;

    private SetSignals SignalsFor(V1Alpha1SigningKeySet set)
    {
        var (ns, name) = (set.Metadata.NamespaceProperty, set.Metadata.Name);
        var active = set.Status?.ActiveKeyId;
        var rollback = set.Status?.Keys?.FirstOrDefault(k => k.Kid == active)?.ActivatedAt is { } activatedAt
            && failures.Evaluate(ns, name, set.Spec.SignatureFailureAlert, activatedAt) is { } since
                ? RollbackRule.SpikeOnActiveKey(since.Spiking, since.Reason, since.Kid, active, since.Describe()) : null;
        LearnPublished(set);
        var spike = failures.Evaluate(ns, name, set.Spec.SignatureFailureAlert);
        return new SetSignals(
            propagation.Evaluate(ns, name, active, set.Status?.NextKeyId),
            rollback,
            new SpikeSignal(spike.Spiking, spike.Describe(), spike.WindowCount, spike.Window, spike.Reason, spike.Kid),
            propagation.NextExpiry(ns, name));
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
