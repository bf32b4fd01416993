using System.Collections.Concurrent;
using System.Globalization;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using Microsoft.Extensions.Logging;

namespace KeyRotator.Operator.Vault.Azure;

/// <summary>
/// A set's keys are the versions of one Azure Key Vault key (spec.vault.azureKeyVault.keyName), created
/// sign/verify-only and tagged with the set's UID and rotation generation, so a version made before a
/// crash is found by listing and adopted. Key Vault deletes keys, not versions: a version pruned from
/// the set is disabled and tagged removed; the key itself is deleted and purged only when the set goes
/// under deletionPolicy Delete. Signers get the version's key id URL.
/// </summary>
public sealed partial class AzureKeyVaultKeyStore(KeyVaultClient client, TimeProvider time, ILogger<AzureKeyVaultKeyStore> logger) : IKeyStore, ISignsInVault
{
    public const string UidTag = "keyrotator-set-uid";
    public const string GenerationTag = "keyrotator-generation";
    public const string AlgorithmTag = "keyrotator-alg";
    public const string SetTag = "keyrotator-set";
    public const string RemovedTag = "keyrotator-removed";

    // A version's key material never changes: read it once. Nor does the version a kid (its thumbprint) names.
    private readonly ConcurrentDictionary<string, Jwk> _publicKeys = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Uid, string Kid), Uri> _versionIds = new();

    public string Provider => "AzureKeyVault";

    public async Task<IReadOnlyList<StoredKey>> ListAsync(KeySetContext set, CancellationToken cancellationToken) =>
        [.. (await ListOursAsync(set, cancellationToken)).Select(v => v.Key)];

    public async Task<StoredKey> CreateAsync(KeySetContext set, long generation, CancellationToken cancellationToken)
    {
        var (ours, foreign) = await ListWithOwnersAsync(set, cancellationToken);
        var existing = ours.FirstOrDefault(v => v.Key.Generation == generation);
        if (existing is not null)
            return existing.Key;

        var (vault, name) = Target(set);
        if (foreign is not null)
        {
            // A grant is per vault, not per key name: another namespace's key (or one KeyRotator did not make) is
            // never given versions of this set, which would put this set's keys under someone else's key and policy.
            throw new KeyStoreException($"key {name} in {vault.Host} holds versions {foreign}; KeyRotator adds no version to it: choose another spec.vault.azureKeyVault.keyName")
            {
                Reason = Reasons.NameConflict,
            };
        }

        var tags = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [UidTag] = set.Uid,
            [GenerationTag] = generation.ToString(CultureInfo.InvariantCulture),
            [AlgorithmTag] = set.Policy.Algorithm.Name,
            [SetTag] = $"{set.Namespace}/{set.Name}",
        };
        var hsm = set.Spec.Vault!.AzureKeyVault!.Hsm == true;
        KeyVaultKeyBundle bundle;
        try
        {
            bundle = await client.CreateKeyAsync(vault, name, set.Policy.Algorithm, set.Policy.RsaKeySize, hsm, tags, cancellationToken);
        }
        catch (KeyStoreException e) when (e.OutcomeUnknown)
        {
            // The create may have landed even though its answer did not: adopt it rather than make another.
            // (A definite refusal, a 4xx, made nothing: it is not looked for.)
            if (await FindAfterFailedCreateAsync(set, generation, cancellationToken) is { } landed)
                return landed;
            throw;
        }
        catch (KeyStoreException e) when (e.Reason == "VaultKeyDeletedButRecoverable")
        {
            // The name is held by a soft-deleted key. Whose versions it holds cannot be listed, so it is neither
            // recovered (that would undo someone's deletion, perhaps another team's) nor purged (that could destroy
            // keys that still verify tokens elsewhere): whoever owns it decides.
            throw new KeyStoreException($"key {name} in {vault.Host} is soft-deleted; KeyRotator neither recovers nor purges a deleted key: "
                + $"if it is this set's, recover it (az keyvault key recover --vault-name {vault.Host.Split('.')[0]} --name {name}); otherwise purge it or choose another spec.vault.azureKeyVault.keyName")
            {
                Reason = Reasons.NameConflict,
            };
        }

        _publicKeys[bundle.KeyId.ToString()] = bundle.PublicJwk;
        _versionIds[(set.Uid, bundle.PublicJwk.Kid)] = bundle.KeyId;
        return new StoredKey(bundle.PublicJwk, generation, bundle.Created ?? time.GetUtcNow(), bundle.KeyId.ToString(), bundle.Enabled);
    }

    public Task<SignerMaterial> GetSignerMaterialAsync(KeySetContext set, StoredKey key, CancellationToken cancellationToken) =>
        Task.FromResult(new SignerMaterial(key.Kid, key.PublicJwk.Alg, null, key.VaultRef));

    public async Task DisableAsync(KeySetContext set, string kid, CancellationToken cancellationToken)
    {
        // The reconcile that asks has just listed the set: its version URL is known, no second listing.
        if (_versionIds.TryGetValue((set.Uid, kid), out var keyId))
        {
            await client.UpdateKeyAsync(keyId, enabled: false, tags: null, cancellationToken);
            return;
        }

        foreach (var version in (await ListOursAsync(set, cancellationToken)).Where(v => v.Key.Kid == kid && v.Key.Enabled))
            await client.UpdateKeyAsync(version.Item.KeyId, enabled: false, tags: null, cancellationToken);
    }

    public async Task DeleteAsync(KeySetContext set, string kid, CancellationToken cancellationToken)
    {
        foreach (var version in (await ListOursAsync(set, cancellationToken)).Where(v => v.Key.Kid == kid))
            await MarkRemovedAsync(version, cancellationToken);
    }

    public async Task RemoveSetAsync(KeySetContext set, bool deleteKeys, CancellationToken cancellationToken)
    {
        foreach (var entry in _versionIds.Keys.Where(k => k.Uid == set.Uid))
            _versionIds.TryRemove(entry, out _);
        if (!deleteKeys)
            return;
        var (vault, name) = Target(set);
        var versions = await client.ListVersionsAsync(vault, name, cancellationToken);
        if (versions.Any(v => v.Tags.GetValueOrDefault(UidTag) != set.Uid))
        {
            // The key also holds versions that are not this set's: never delete those with it.
            foreach (var version in await ListOursAsync(set, cancellationToken))
                await MarkRemovedAsync(version, cancellationToken);
            LogSharedKeyKept(logger, set.Namespace, set.Name, name, vault.Host);
            return;
        }

        if (versions.Count == 0)
            return;

        // A 404 here is this delete's own earlier attempt, whose answer was lost and which the pipeline
        // sent again (the listing above just found the key): the key still waits to be purged.
        await client.DeleteKeyAsync(vault, name, cancellationToken);
        for (var attempt = 0; attempt < 5; attempt++)
        {
            if (await client.PurgeDeletedKeyAsync(vault, name, cancellationToken))
                return;
            // Deletion finishes asynchronously; purge answers 409 until it has.
            await Task.Delay(TimeSpan.FromSeconds(1 << attempt), time, cancellationToken);
        }

        LogNotPurged(logger, set.Namespace, set.Name, name, vault.Host);
    }

    /// <summary>Signs in the vault: the JWS signature for <paramref name="signingInput"/> (raw R||S for ES*).</summary>
    public async Task<byte[]> SignAsync(KeySetContext set, string kid, byte[] signingInput, CancellationToken cancellationToken)
    {
        var version = (await ListOursAsync(set, cancellationToken)).FirstOrDefault(v => v.Key.Kid == kid && v.Key.Enabled)
            ?? throw new KeyStoreException($"the vault holds no enabled key {kid} for this set") { Reason = Reasons.KeyMissing };
        var algorithm = JwsAlgorithm.Parse(version.Key.PublicJwk.Alg); // the version's own (tag keyrotator-alg), not today's spec
        return await client.SignDigestAsync(version.Item.KeyId, algorithm, algorithm.Digest(signingInput), cancellationToken);
    }

    /// <summary>Key Vault deletes keys, not versions: a version leaves the set disabled and tagged removed (tags are replaced whole, so merged).</summary>
    private async Task MarkRemovedAsync(Version version, CancellationToken cancellationToken)
    {
        var tags = new Dictionary<string, string>(version.Item.Tags, StringComparer.Ordinal) { [RemovedTag] = "true" };
        await client.UpdateKeyAsync(version.Item.KeyId, enabled: false, tags, cancellationToken);
    }

    private async Task<StoredKey?> FindAfterFailedCreateAsync(KeySetContext set, long generation, CancellationToken cancellationToken)
    {
        try
        {
            return (await ListOursAsync(set, cancellationToken)).FirstOrDefault(v => v.Key.Generation == generation)?.Key;
        }
        catch (KeyStoreException)
        {
            return null; // the next reconcile lists again before it creates anything
        }
    }

    private async Task<List<Version>> ListOursAsync(KeySetContext set, CancellationToken cancellationToken) =>
        (await ListWithOwnersAsync(set, cancellationToken)).Ours;

    /// <summary>
    /// The set's versions, and whose the versions are that belong to no set of the set's namespace (null when
    /// none): a set in the same namespace is the same team under the same grant; anything else is not.
    /// </summary>
    private async Task<(List<Version> Ours, string? Foreign)> ListWithOwnersAsync(KeySetContext set, CancellationToken cancellationToken)
    {
        var (vault, name) = Target(set);
        var ours = new List<Version>();
        string? foreign = null;
        foreach (var item in await client.ListVersionsAsync(vault, name, cancellationToken))
        {
            if (item.Tags.GetValueOrDefault(UidTag) != set.Uid)
            {
                foreign ??= item.Tags.GetValueOrDefault(SetTag) is not { } owner ? "that KeyRotator did not make"
                    : !owner.StartsWith(set.Namespace + "/", StringComparison.Ordinal) ? $"of a SigningKeySet in namespace {owner.Split('/')[0]}"
                    : null;
            }

            if (item.Tags.GetValueOrDefault(UidTag) != set.Uid || item.Tags.ContainsKey(RemovedTag)
                || !long.TryParse(item.Tags.GetValueOrDefault(GenerationTag), NumberStyles.None, CultureInfo.InvariantCulture, out var generation))
                continue;
            var algorithm = JwsAlgorithm.TryParse(item.Tags.GetValueOrDefault(AlgorithmTag), out var tagged) ? tagged : set.Policy.Algorithm;
            var id = item.KeyId.ToString();
            if (!_publicKeys.TryGetValue(id, out var jwk))
            {
                var bundle = await client.GetKeyAsync(vault, name, KeyVaultKeyBundle.VersionOf(item.KeyId), algorithm, cancellationToken);
                if (bundle is null)
                    continue; // deleted between the listing and the read
                jwk = _publicKeys[id] = bundle.PublicJwk;
            }

            _versionIds[(set.Uid, jwk.Kid)] = item.KeyId;
            ours.Add(new Version(item, new StoredKey(jwk, generation, item.Created ?? DateTimeOffset.UnixEpoch, id, item.Enabled)));
        }

        return (ours, foreign);
    }

    private static (Uri Vault, string Name) Target(KeySetContext set)
    {
        var spec = set.Spec.Vault?.AzureKeyVault ?? throw new KeyStoreException("spec.vault.azureKeyVault is missing") { Reason = Reasons.InvalidSpec };
        return (new Uri(spec.VaultUri), spec.KeyName);
    }

    private sealed record Version(KeyVaultKeyItem Item, StoredKey Key);

    [LoggerMessage(Level = LogLevel.Warning, Message = "SigningKeySet {Namespace}/{Name}: key {Key} in {Vault} also holds other sets' versions; this set's versions were disabled and tagged removed, the key was kept")]
    private static partial void LogSharedKeyKept(ILogger logger, string @namespace, string name, string key, string vault);

    [LoggerMessage(Level = LogLevel.Warning, Message = "SigningKeySet {Namespace}/{Name}: key {Key} in {Vault} was deleted but could not be purged (purge protection, or deletion still running); Azure purges it when its retention ends")]
    private static partial void LogNotPurged(ILogger logger, string @namespace, string name, string key, string vault);
}
