using System.Collections.Concurrent;
using System.Text;
using k8s.Models;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Informers;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Runtime;
using KeyRotator.Operator.Vault;

namespace KeyRotator.Operator.Publishing;

/// <summary>
/// The Secret signers read: the active key (PKCS#8 PEM for the Kubernetes provider, a vault reference
/// otherwise), its kid and alg, and the next key once it is pending.
/// </summary>
public sealed class SigningSecretPublisher(IObjectClient client, ObjectWriter writer) : IRemembersSets
{
    /// <summary>
    /// Per set (by UID): the kids and data digest of the signing Secret this replica last published or
    /// found current. With the informer's digest it answers "is the Secret already right?" without
    /// reading any private key from the vault.
    /// </summary>
    private readonly ConcurrentDictionary<string, (string? Active, string? Next, string Digest)> _published = new(StringComparer.Ordinal);

    public const string KidKey = "kid";
    public const string AlgKey = "alg";
    public const string PrivateKeyKey = "private-key.pem";
    public const string KeyReferenceKey = "key-ref";
    public const string NextKidKey = "next-kid";
    public const string NextPrivateKeyKey = "next-private-key.pem";
    public const string NextKeyReferenceKey = "next-key-ref";

    public static string SecretName(V1Alpha1SigningKeySet set) => set.Spec.SigningSecretName ?? $"{set.Metadata.Name}-signing";

    public async Task<ApplyResult> PublishAsync(V1Alpha1SigningKeySet set, SignerMaterial? active, SignerMaterial? next, CancellationToken cancellationToken)
    {
        var desired = Desired(set, active, next);
        var result = await writer.ApplySecretAsync(desired, SetIdentity.Of(set), cancellationToken);
        if (result == ApplyResult.NotOwned)
            _published.TryRemove(set.Metadata.Uid, out _);
        else
            _published[set.Metadata.Uid] = (active?.Kid, next?.Kid, SecretData.Digest(desired.Data, desired.Type));
        return result;
    }

    /// <summary>
    /// True when the set's signing Secret, as the informer (or this replica's last write) has it, holds
    /// exactly what this replica last published for these kids: publishing again would change nothing,
    /// so the vault need not be asked for the private keys. False whenever in doubt (no record after a
    /// restart, the cache cannot say, someone changed the Secret): then the caller publishes.
    /// </summary>
    public bool IsCurrent(V1Alpha1SigningKeySet set, string? activeKid, string? nextKid)
    {
        if (!_published.TryGetValue(set.Metadata.Uid, out var last) || last.Active != activeKid || last.Next != nextKid)
            return false;
        var (known, existing) = client.Peek<V1Secret>(set.Metadata.NamespaceProperty, SecretName(set));
        return known && existing is not null
            && Ownership.IsOwnedBy(existing.Metadata, SetIdentity.Of(set))
            && ObjectWriter.MetadataMatches(existing.Metadata, DesiredMetadata(set, activeKid))
            && SecretData.DigestOf(existing) == last.Digest;
    }

    /// <summary>
    /// True while no key signs and the set has no signing Secret yet (the cache says so): a Secret naming only
    /// the next key gives signers nothing to sign with, so the first key's Secret is created when that key
    /// activates, with it (one write, not two: docs/benchmarks.md). A Secret that exists is kept as publishing
    /// wants it, next key included.
    /// </summary>
    public bool NotNeededYet(V1Alpha1SigningKeySet set, string? activeKid) =>
        activeKid is null && client.Peek<V1Secret>(set.Metadata.NamespaceProperty, SecretName(set)) is (true, null);

    /// <summary>The set is gone: nothing to remember about its signing Secret.</summary>
    public void Forget(SetKey set, string? uid)
    {
        if (uid is not null)
            _published.TryRemove(uid, out _);
    }

    /// <summary>
    /// Deletes the signing Secrets this set wrote under an earlier spec.signingSecretName: nobody reads
    /// them any more, and they would keep private keys long after those keys retire. Only Secrets
    /// labelled for this set and owned by it (same UID) are touched.
    /// </summary>
    public async Task<int> RemoveStaleAsync(V1Alpha1SigningKeySet set, CancellationToken cancellationToken)
    {
        var ns = set.Metadata.NamespaceProperty;
        var removed = 0;
        var found = await client.ListAsync<V1Secret>([ns], Labels.For(ns, set.Metadata.Name, "signing"), cancellationToken);
        foreach (var stale in found)
        {
            if (stale.Metadata.Name == SecretName(set) || stale.Metadata.OwnerReferences?.Any(o => o.Uid == set.Metadata.Uid) != true)
                continue;
            if (await writer.DeleteOwnedSecretAsync(ns, stale.Metadata.Name, SetIdentity.Of(set), cancellationToken))
                removed++;
        }

        return removed;
    }

    public static V1Secret Desired(V1Alpha1SigningKeySet set, SignerMaterial? active, SignerMaterial? next)
    {
        var data = new Dictionary<string, byte[]>();
        if (active is not null)
        {
            data[KidKey] = Encoding.UTF8.GetBytes(active.Kid);
            data[AlgKey] = Encoding.UTF8.GetBytes(active.Algorithm);
            Add(data, PrivateKeyKey, active.PrivateKeyPem);
            Add(data, KeyReferenceKey, active.KeyReference);
        }

        if (next is not null)
        {
            data[NextKidKey] = Encoding.UTF8.GetBytes(next.Kid);
            Add(data, NextPrivateKeyKey, next.PrivateKeyPem);
            Add(data, NextKeyReferenceKey, next.KeyReference);
        }

        return new V1Secret { Metadata = DesiredMetadata(set, active?.Kid), Type = "Opaque", Data = data };
    }

    private static V1ObjectMeta DesiredMetadata(V1Alpha1SigningKeySet set, string? activeKid) => new()
    {
        Name = SecretName(set),
        NamespaceProperty = set.Metadata.NamespaceProperty,
        Labels = Labels.For(set.Metadata.NamespaceProperty, set.Metadata.Name, "signing"),
        Annotations = activeKid is null
            ? new Dictionary<string, string> { [Labels.SetUidAnnotation] = set.Metadata.Uid }
            : new Dictionary<string, string> { [Labels.SetUidAnnotation] = set.Metadata.Uid, [Labels.ActiveKidAnnotation] = activeKid },
        OwnerReferences = [JwksPublisher.OwnerReferenceFor(set)],
    };

    private static void Add(Dictionary<string, byte[]> data, string key, string? value)
    {
        if (value is not null)
            data[key] = Encoding.UTF8.GetBytes(value);
    }
}
