using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using k8s;
using k8s.Autorest;
using k8s.Models;
using KeyRotator.Core.Keys;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Runtime;

namespace KeyRotator.Operator.Vault;

/// <summary>
/// The default vault: keys generated in process, private material in one labelled Secret per set
/// ("&lt;set&gt;-keyrotator-keys"), owned by the set's UID, one entry per rotation generation. A Secret of that
/// name that belongs to anything else (an application's Secret, the keys of an earlier set of the same
/// name) is a NameConflict: it is never read as this set's keys, never written.
/// The Secret is read when a key's private half is needed (to store a new key, to publish a signing key,
/// to disable or delete one). Listing the keys reads it only when it changed: the public half of what
/// was last read or written is remembered per set with the Secret's resourceVersion, and the informer
/// (which caches the Secret without data) says whether that version is still the current one.
/// </summary>
public sealed partial class KubernetesKeyStore(IObjectClient client, KeyGenerator generator, TimeProvider time) : IKeyStore, IPreparesKeys, IRemembersSets
{
    private const int MaxConflictRetries = 5;

    /// <summary>Per set UID: the key-store Secret's resourceVersion (null: there was none) and its entries without private keys.</summary>
    private readonly ConcurrentDictionary<string, (string? ResourceVersion, IReadOnlyList<KeyStoreEntry> Entries)> _known = new(StringComparer.Ordinal);

    /// <summary>
    /// Per set UID: the key this reconcile has just created, and the enabled keys it read to add it,
    /// for the signing Secret it publishes next (the active key and the new next one), so that
    /// publishing needs no second read. Held for that one reconcile only: the next reconcile of the set
    /// (which starts with <see cref="ListAsync"/>) drops it.
    /// </summary>
    private readonly ConcurrentDictionary<string, IReadOnlyList<SignerMaterial>> _fresh = new(StringComparer.Ordinal);

    public string Provider => "Kubernetes";

    public bool IsReady(KeySetContext set, long generation) => generator.IsReady(set, generation);

    public static string SecretName(string setName) => $"{setName}-keyrotator-keys";

    public async Task<IReadOnlyList<StoredKey>> ListAsync(KeySetContext set, CancellationToken cancellationToken)
    {
        _fresh.TryRemove(set.Uid, out _);
        var entries = KnownEntries(set) ?? NoneYet(set) ?? Remember(set, await ReadAsync(set, cancellationToken));
        return [.. entries.Select(e => e.ToStoredKey(set))];
    }

    /// <summary>
    /// A set this replica has not listed before, whose Secret the informer does not hold: it has no keys
    /// yet (a new set). A Secret of that name that is not the set's is invisible to the label-selected
    /// informer; the create answers 409 for it, reads it, and the set reports the NameConflict.
    /// </summary>
    private IReadOnlyList<KeyStoreEntry>? NoneYet(KeySetContext set) =>
        !_known.ContainsKey(set.Uid) && client.Peek<V1Secret>(set.Namespace, SecretName(set.Name)) is (true, null) ? Remember(set, null) : null;

    /// <summary>The entries remembered for the set, if the cache says the Secret is still the version they came from.</summary>
    private IReadOnlyList<KeyStoreEntry>? KnownEntries(KeySetContext set)
    {
        var (known, cached) = client.Peek<V1Secret>(set.Namespace, SecretName(set.Name));
        return known && _known.TryGetValue(set.Uid, out var last) && last.ResourceVersion == cached?.Metadata.ResourceVersion ? last.Entries : null;
    }

    /// <summary>Remembers the public half of what was just read or written (null: there is no Secret).</summary>
    private IReadOnlyList<KeyStoreEntry> Remember(KeySetContext set, V1Secret? secret)
    {
        IReadOnlyList<KeyStoreEntry> entries = secret is null ? [] : [.. KeyStoreEntry.ReadAll(secret).Select(e => e with { Pkcs8 = null })];
        _known[set.Uid] = (secret?.Metadata.ResourceVersion, entries);
        return entries;
    }

    /// <summary>Records a write the operator made, for the list (the object client keeps it for the cache).</summary>
    private void Wrote(KeySetContext set, V1Secret written) => Remember(set, written);

    public async Task<StoredKey> CreateAsync(KeySetContext set, long generation, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            // The first key of a set: when the cache and the last read agree that there is no Secret yet, create
            // it without reading (a name taken meanwhile answers 409, and the next attempt reads).
            var secret = attempt == 0 && KnownEntries(set) is [] && _known.TryGetValue(set.Uid, out var last) && last.ResourceVersion is null
                ? null
                : await ReadAsync(set, cancellationToken);
            var existing = secret is null ? null : KeyStoreEntry.ReadAll(secret).FirstOrDefault(e => e.Generation == generation);
            if (existing is not null)
            {
                // Made before (a reconcile that stopped after storing it): adopt it, and keep what was read for publishing.
                HoldForPublishing(set, secret!);
                return existing.ToStoredKey(set);
            }

            var key = generator.Take(set, generation);
            var entry = new KeyStoreEntry(key.Kid, set.Policy.Algorithm.Name, generation, time.GetUtcNow(), true, key.PublicJwk.ToJson(), Convert.ToBase64String(key.ExportPkcs8()));
            try
            {
                if (secret is null)
                {
                    secret = new V1Secret
                    {
                        Metadata = new V1ObjectMeta
                        {
                            Name = SecretName(set.Name),
                            NamespaceProperty = set.Namespace,
                            Labels = Labels.For(set.Namespace, set.Name, "keystore"),
                            Annotations = new Dictionary<string, string> { [Labels.SetUidAnnotation] = set.Uid },
                            OwnerReferences = [Owner(set)],
                        },
                        Type = "Opaque",
                        Data = new Dictionary<string, byte[]>(),
                    };
                    secret.Data[KeyStoreEntry.NameOf(generation)] = entry.ToBytes();
                    Wrote(set, await client.CreateAsync(secret, cancellationToken));
                }
                else
                {
                    secret.Data ??= new Dictionary<string, byte[]>();
                    secret.Data[KeyStoreEntry.NameOf(generation)] = entry.ToBytes();
                    Wrote(set, await client.ReplaceAsync(secret, cancellationToken));
                }

                HoldForPublishing(set, secret);

                return entry.ToStoredKey(set);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict && attempt < MaxConflictRetries)
            {
                // Someone else wrote the Secret (or created it) first: read again; their key may be ours to adopt.
            }
            catch (HttpOperationException e)
            {
                throw Failure("store the new key", e);
            }
        }
    }

    /// <summary>The enabled keys of the Secret just read or written, for this reconcile's signing Secret (see <see cref="_fresh"/>).</summary>
    private void HoldForPublishing(KeySetContext set, V1Secret secret) =>
        _fresh[set.Uid] = [.. KeyStoreEntry.ReadAll(secret).Where(e => e.Enabled && e.Pkcs8 is not null).Select(e => Material(set, e))];

    public async Task<SignerMaterial> GetSignerMaterialAsync(KeySetContext set, StoredKey key, CancellationToken cancellationToken) =>
        (await GetSignerMaterialsAsync(set, [key], cancellationToken))[0];

    /// <summary>Every key's material from one read of the Secret (none when this reconcile has just created a key and read the others to do so).</summary>
    public async Task<IReadOnlyList<SignerMaterial>> GetSignerMaterialsAsync(KeySetContext set, IReadOnlyList<StoredKey> keys, CancellationToken cancellationToken)
    {
        if (_fresh.TryRemove(set.Uid, out var fresh) && keys.All(k => fresh.Any(m => m.Kid == k.Kid)))
            return [.. keys.Select(k => fresh.First(m => m.Kid == k.Kid))];
        var secret = await ReadAsync(set, cancellationToken);
        Remember(set, secret);
        var entries = secret is null ? [] : KeyStoreEntry.ReadAll(secret).ToList();
        return [.. keys.Select(key =>
            entries.FirstOrDefault(e => e.Kid == key.Kid && e.Pkcs8 is not null) is { } entry
                ? Material(set, entry)
                : throw new KeyStoreException($"the private key {key.Kid} is no longer in Secret {set.Namespace}/{SecretName(set.Name)}") { Reason = Reasons.KeyMissing })];
    }

    private static SignerMaterial Material(KeySetContext set, KeyStoreEntry entry) =>
        new(entry.Kid, entry.Alg, System.Security.Cryptography.PemEncoding.WriteString("PRIVATE KEY", Convert.FromBase64String(entry.Pkcs8!)), $"secret:{set.Namespace}/{SecretName(set.Name)}#{KeyStoreEntry.NameOf(entry.Generation)}");

    public Task DisableAsync(KeySetContext set, string kid, CancellationToken cancellationToken) =>
        // A retired key needs no private half: drop it, keep the public record.
        UpdateEntriesAsync(set, entries => entries.Select(e => e.Kid == kid ? e with { Enabled = false, Pkcs8 = null } : e), cancellationToken);

    public void Forget(SetKey set, string? uid)
    {
        if (uid is null)
            return;
        _known.TryRemove(uid, out _);
        _fresh.TryRemove(uid, out _);
    }

    public Task DeleteAsync(KeySetContext set, string kid, CancellationToken cancellationToken) =>
        UpdateEntriesAsync(set, entries => entries.Where(e => e.Kid != kid), cancellationToken);

    private async Task UpdateEntriesAsync(KeySetContext set, Func<IEnumerable<KeyStoreEntry>, IEnumerable<KeyStoreEntry>> change, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            var secret = await ReadAsync(set, cancellationToken);
            if (secret is null)
                return;
            var before = KeyStoreEntry.ReadAll(secret).ToList();
            var after = change(before).ToList();
            if (before.SequenceEqual(after))
                return;
            secret.Data = after.ToDictionary(e => KeyStoreEntry.NameOf(e.Generation), e => e.ToBytes());
            try
            {
                Wrote(set, await client.ReplaceAsync(secret, cancellationToken));
                return;
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict && attempt < MaxConflictRetries)
            {
            }
            catch (HttpOperationException e)
            {
                throw Failure("update the key Secret", e);
            }
        }
    }

    private async Task<V1Secret?> ReadAsync(KeySetContext set, CancellationToken cancellationToken)
    {
        try
        {
            var secret = await client.ReadAsync<V1Secret>(set.Namespace, SecretName(set.Name), cancellationToken);
            if (secret is null)
                return null;
            if (!Ownership.IsOwnedBy(secret.Metadata, set.Identity))
            {
                throw new KeyStoreException(
                    $"Secret {set.Namespace}/{SecretName(set.Name)}, where this set's keys would be kept, belongs to {Ownership.DescribeHolder(secret.Metadata)}; " +
                    "KeyRotator does not read or change it. Rename or delete that Secret (keys of a deleted set are kept under another name), or give the SigningKeySet another name")
                {
                    Reason = Reasons.NameConflict,
                };
            }

            return secret;
        }
        catch (HttpOperationException e)
        {
            throw Failure("read the key Secret", e);
        }
    }

    private static KeyStoreException Failure(string operation, HttpOperationException e) =>
        new($"could not {operation}: the API server answered {(int)e.Response.StatusCode} {e.Response.ReasonPhrase}")
        {
            Reason = e.Response.StatusCode == HttpStatusCode.Forbidden ? "VaultAccessDenied" : "VaultUnavailable",
        };

    public static V1OwnerReference Owner(KeySetContext set) => V1Alpha1SigningKeySet.OwnerReference(set.Name, set.Uid);
}
