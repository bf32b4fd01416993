using k8s.Autorest;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Configuration;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Observability;
using KeyRotator.Operator.Publishing;
using KeyRotator.Operator.Runtime;
using KeyRotator.Operator.Vault;
using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.Controllers;

/// <summary>
/// The acts of a reconcile on Kubernetes and the set's vault, as <see cref="RotationStep"/> asks for them:
/// JWKS copies first, then the signing Secret; withdrawals from what is published; vault clean-up.
/// They only write and say what happened: every refusal comes back as a value, and <see cref="Failures"/>
/// (Core) decides whether it holds or degrades the set; nothing an API server or a vault answers is thrown.
/// </summary>
public sealed class SetEffects(
    KeyStoreSelector stores,
    JwksPublisher jwksPublisher,
    SigningSecretPublisher signingPublisher,
    KeyWithdrawer withdrawer,
    ExternalPublisher external,
    PropagationTracker propagation,
    IObjectClient client,
    IOptions<OperatorOptions> options)
{
    /// <summary>The effects for one reconcile of <paramref name="set"/>; <paramref name="context"/> is null while the set is held.</summary>
    public Bound For(V1Alpha1SigningKeySet set, KeySetContext? context) => new(this, set, context);

    public sealed class Bound(SetEffects effects, V1Alpha1SigningKeySet set, KeySetContext? context) : IRotationEffects
    {
        /// <summary>The set's key store, once the vault was read.</summary>
        private IKeyStore? _store;

        public async Task<KeyListing> ListKeysAsync(CancellationToken cancellationToken)
        {
            try
            {
                _store = effects.StoreFor(set);
                return KeyListing.Of([.. await _store.ListAsync(context!, cancellationToken)]);
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
            if (_store is IPreparesKeys keys && !keys.IsReady(context!, generation))
                return KeyCreation.NotReady;
            try
            {
                // Names are checked where they are written: publishing creates without reading, and a name held
                // by anything else answers 409, is read, and holds the set at NameConflict before a key signs.
                return KeyCreation.Created(await _store!.CreateAsync(context!, generation, cancellationToken));
            }
            catch (KeyStoreException e)
            {
                return KeyCreation.Failed(Failure(e));
            }
        }

        public Task<PublishResult> PublishAsync(RotationPlan plan, IReadOnlyList<StoredKey> stored, CancellationToken cancellationToken) =>
            effects.PublishAsync(set, context!, _store!, stored, plan, cancellationToken);

        public Task<StepFailure?> WithdrawAsync(IReadOnlySet<string> unpublished, CancellationToken cancellationToken) =>
            effects.WithdrawAsync(set, unpublished, cancellationToken);

        /// <summary>
        /// Carries out the step's vault clean-up (after status is written). A failure is returned, not
        /// thrown: clean-up is level-based and decided again at the next reconcile.
        /// </summary>
        public async Task<string?> CleanUpVaultAsync(VaultCleanup cleanup, CancellationToken cancellationToken)
        {
            try
            {
                foreach (var kid in cleanup.Disable)
                    await _store!.DisableAsync(context!, kid, cancellationToken);
                foreach (var kid in cleanup.Delete)
                    await _store!.DeleteAsync(context!, kid, cancellationToken);
                return null;
            }
            catch (KeyStoreException e)
            {
                return e.Message;
            }
        }
    }

    private static StepFailure Failure(KeyStoreException e) => Failures.Vault(e.Reason, e.Message);

    private IKeyStore StoreFor(V1Alpha1SigningKeySet set) => stores.For(set.Spec.Vault?.Provider);

    private Task<StepFailure?> WithdrawAsync(V1Alpha1SigningKeySet set, IReadOnlySet<string> unpublished, CancellationToken cancellationToken) =>
        withdrawer.WithdrawAsync(set, unpublished, cancellationToken);

    /// <summary>JWKS first (every accepted copy), then the signing Secret.</summary>
    private async Task<PublishResult> PublishAsync(
        V1Alpha1SigningKeySet set, KeySetContext context, IKeyStore store, IReadOnlyList<StoredKey> stored, RotationPlan plan, CancellationToken cancellationToken)
    {
        if (Failures.MissingKeys(plan.PublishedKeyIds, stored) is { } missing)
            return PublishResult.Failed(missing);
        var keys = stored.ToDictionary(k => k.Kid, k => k.PublicJwk, StringComparer.Ordinal);

        var jwks = new JwksDocument(plan.PublishedKeyIds.Select(kid => keys[kid]).ToList());
        var problems = new List<SkippedTarget>();
        try
        {
            var (accepted, skipped) = await jwksPublisher.ResolveTargetsAsync(set, cancellationToken);
            problems.AddRange(skipped);
            var written = new List<string>();
            foreach (var (ns, result) in await jwksPublisher.PublishAsync(set, jwks, accepted, cancellationToken))
            {
                if (result != ApplyResult.NotOwned)
                {
                    written.Add(ns);
                    continue;
                }

                // Whether a taken name holds the set or skips the copy is Core's to say; the holder is read
                // only for a hold, whose message names it (a skipped copy never names another tenant's object).
                var name = JwksPublisher.ConfigMapName(set);
                var held = new NameHeld("ConfigMap", ns, name, JwksField, Failures.AnotherOwner);
                var conflict = Failures.JwksCopyConflict(set.Metadata.NamespaceProperty, held);
                if (conflict.Hold is not null)
                    return Conflict(held with { Holder = await HolderAsync(client.ReadAsync<V1ConfigMap>(ns, name, cancellationToken)) });
                problems.Add(conflict.Skipped!);
            }

            // What a verifier of this set reports holding is read against the documents written for this set.
            propagation.Published(set.Metadata.NamespaceProperty, set.Metadata.Name, jwks.ToJson());
            await jwksPublisher.RemoveCopiesAsync(set, written, options.Value.WatchNamespaces, cancellationToken);

            // Outside the cluster next: a key counts as published only when every target holds it.
            var (externalFailure, externalTargets) = await external.PublishAsync(set, JwksPublisher.Desired(set, set.Metadata.NamespaceProperty, jwks), plan.Status.Keys, cancellationToken);
            if (externalFailure is not null)
                return PublishResult.Failed(externalFailure, problems);

            // The vault is asked for private keys only when the signing Secret needs them written: on a
            // new active or next key, after a restart, or when someone changed the Secret; a set's first
            // Secret is made when its first key signs.
            if (!signingPublisher.IsCurrent(set, plan.ActiveKeyId, plan.Status.NextKeyId) && !signingPublisher.NotNeededYet(set, plan.ActiveKeyId))
            {
                var wanted = new[] { plan.ActiveKeyId, plan.Status.NextKeyId }.OfType<string>().Select(kid => stored.First(k => k.Kid == kid)).ToList();
                var materials = wanted.Count == 0 ? [] : await store.GetSignerMaterialsAsync(context, wanted, cancellationToken);
                var active = materials.FirstOrDefault(m => m.Kid == plan.ActiveKeyId);
                var next = materials.FirstOrDefault(m => m.Kid == plan.Status.NextKeyId);
                if (await signingPublisher.PublishAsync(set, active, next, cancellationToken) == ApplyResult.NotOwned)
                {
                    var (ns, name) = (set.Metadata.NamespaceProperty, SigningSecretPublisher.SecretName(set));
                    return Conflict(new NameHeld("Secret", ns, name, "spec.signingSecretName", await HolderAsync(client.ReadAsync<V1Secret>(ns, name, cancellationToken))));
                }
            }

            await signingPublisher.RemoveStaleAsync(set, cancellationToken);
            return PublishResult.Done(problems, externalTargets);
        }
        catch (KeyStoreException e)
        {
            return PublishResult.Failed(Failure(e), problems);
        }
        catch (HttpOperationException e)
        {
            // A write the API server refuses (a copy, the signing Secret; a 409 when the cache was behind twice,
            // a 404 when a namespace went away) holds the rotation back (no key activates while a copy lacks it),
            // but not safety: the step still withdraws revoked and retired keys from everything it can write.
            // Named by request and answer, never by content.
            return PublishResult.Failed(Failures.PublishRefused(ApiAnswer.Describe(e)), problems);
        }
    }

    private const string JwksField = "spec.jwks.configMapName";

    private static PublishResult Conflict(NameHeld held) => PublishResult.Failed(Failures.NameConflict(held));

    /// <summary>Who holds a name that publishing found taken (read when it happens, for the NameConflict message).</summary>
    private static async Task<string> HolderAsync<T>(Task<T?> read)
        where T : class, IMetadata<V1ObjectMeta> =>
        await read is { } holder ? Ownership.DescribeHolder(holder.Metadata) : Failures.AnotherOwner;
}
