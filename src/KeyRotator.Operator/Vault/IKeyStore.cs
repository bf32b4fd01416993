using KeyRotator.Core.Lifecycle;

namespace KeyRotator.Operator.Vault;

/// <summary>
/// A vault that holds a set's private keys. Every operation is idempotent: keys carry the set's UID
/// and rotation generation, so a reconcile that crashed half-way finds and adopts what it made.
/// </summary>
public interface IKeyStore
{
    /// <summary>The spec.vault.provider value this store serves.</summary>
    string Provider { get; }

    /// <summary>Every key the vault holds for the set, enabled or not.</summary>
    Task<IReadOnlyList<StoredKey>> ListAsync(KeySetContext set, CancellationToken cancellationToken);

    /// <summary>Creates the key for <paramref name="generation"/>, or returns the one that already exists.</summary>
    Task<StoredKey> CreateAsync(KeySetContext set, long generation, CancellationToken cancellationToken);

    /// <summary>What signers get for <paramref name="key"/>: private PEM or a vault reference.</summary>
    Task<SignerMaterial> GetSignerMaterialAsync(KeySetContext set, StoredKey key, CancellationToken cancellationToken);

    /// <summary>What signers get for each of <paramref name="keys"/> (the active and the next key), in one vault read where the vault allows.</summary>
    async Task<IReadOnlyList<SignerMaterial>> GetSignerMaterialsAsync(KeySetContext set, IReadOnlyList<StoredKey> keys, CancellationToken cancellationToken)
    {
        var materials = new List<SignerMaterial>(keys.Count);
        foreach (var key in keys)
            materials.Add(await GetSignerMaterialAsync(set, key, cancellationToken));
        return materials;
    }

    /// <summary>The key can never sign again (retired or revoked).</summary>
    Task DisableAsync(KeySetContext set, string kid, CancellationToken cancellationToken);

    Task DeleteAsync(KeySetContext set, string kid, CancellationToken cancellationToken);

    /// <summary>The set is being deleted: remove every key (deletionPolicy Delete) or leave them, detached (Retain).</summary>
    Task RemoveSetAsync(KeySetContext set, bool deleteKeys, CancellationToken cancellationToken);
}

/// <summary>
/// A key store whose new keys take long enough to make that a reconcile should not wait for them: it
/// asks, goes on with what it can do, and is woken when the key is ready.
/// </summary>
public interface IPreparesKeys
{
    /// <summary>True when <see cref="IKeyStore.CreateAsync"/> for <paramref name="generation"/> would not wait; otherwise starts preparing the key.</summary>
    bool IsReady(KeySetContext set, long generation);
}
