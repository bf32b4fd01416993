using System.Net;
using k8s.Autorest;
using k8s.Models;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Operator.Informers;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Runtime;

namespace KeyRotator.Operator.Publishing;

/// <summary>
/// Create-or-update for the ConfigMaps and Secrets the operator owns, writing only when what is there
/// differs from what should be (a steady-state reconcile writes nothing). It changes and deletes only
/// objects that belong to the set (<see cref="Ownership"/>); a name held by anything else is reported
/// as <see cref="ApplyResult.NotOwned"/> and left exactly as it is.
/// </summary>
public sealed class ObjectWriter(IObjectClient client)
{
    /// <summary>
    /// Makes the ConfigMap match, if it is the set's (or does not exist yet). It compares with the
    /// informer's copy and calls the API server only to write; when the cache is behind (the create
    /// finds the name taken, the replace a newer version) it reads the object and decides again.
    /// </summary>
    public Task<ApplyResult> ApplyConfigMapAsync(V1ConfigMap desired, SetIdentity owner, CancellationToken cancellationToken) =>
        CacheFirstAsync(
            client.Peek<V1ConfigMap>(desired.Metadata.NamespaceProperty, desired.Metadata.Name),
            existing => ApplyConfigMapAsync(desired, existing, owner, cancellationToken),
            () => client.ReadAsync<V1ConfigMap>(desired.Metadata.NamespaceProperty, desired.Metadata.Name, cancellationToken));

    private async Task<ApplyResult> ApplyConfigMapAsync(V1ConfigMap desired, V1ConfigMap? existing, SetIdentity owner, CancellationToken cancellationToken)
    {
        if (existing is null)
        {
            await client.CreateAsync(desired, cancellationToken);
            return ApplyResult.Written;
        }

        if (!Ownership.IsOwnedBy(existing.Metadata, owner))
            return ApplyResult.NotOwned;

        // A JWKS ConfigMap written before issue #34 named the active kid; it loses the annotation at once,
        // so that it never names a key that no longer signs (one write per set, after the upgrade).
        var retired = existing.Metadata.Annotations?.Remove(Labels.ActiveKidAnnotation) == true;
        if (!retired && MetadataMatches(existing.Metadata, desired.Metadata) && DataEquals(existing.Data, desired.Data))
            return ApplyResult.Unchanged;
        Merge(existing.Metadata, desired.Metadata);
        existing.Data = desired.Data;
        existing.BinaryData = null;
        await client.ReplaceAsync(existing, cancellationToken);
        return ApplyResult.Written;
    }

    /// <summary>Makes the Secret match, if it is the set's (or does not exist yet); the informer's copy first, as for ConfigMaps.</summary>
    public Task<ApplyResult> ApplySecretAsync(V1Secret desired, SetIdentity owner, CancellationToken cancellationToken) =>
        CacheFirstAsync(
            client.Peek<V1Secret>(desired.Metadata.NamespaceProperty, desired.Metadata.Name),
            existing => ApplySecretAsync(desired, existing, owner, cancellationToken),
            () => client.ReadAsync<V1Secret>(desired.Metadata.NamespaceProperty, desired.Metadata.Name, cancellationToken));

    private async Task<ApplyResult> ApplySecretAsync(V1Secret desired, V1Secret? existing, SetIdentity owner, CancellationToken cancellationToken)
    {
        if (existing is null)
        {
            await client.CreateAsync(desired, cancellationToken);
            return ApplyResult.Written;
        }

        if (!Ownership.IsOwnedBy(existing.Metadata, owner))
            return ApplyResult.NotOwned;

        // The cached copy has no data, only its digest (SecretData): compare digests.
        if (MetadataMatches(existing.Metadata, desired.Metadata) && SecretData.DigestOf(existing) == SecretData.Digest(desired.Data, desired.Type))
            return ApplyResult.Unchanged;
        Merge(SecretData.WithoutDigest(existing.Metadata), desired.Metadata);
        existing.Data = desired.Data;
        existing.StringData = null;
        await client.ReplaceAsync(existing, cancellationToken);
        return ApplyResult.Written;
    }

    /// <summary>
    /// Applies against the informer's copy when the cache can say; when it was behind (a create found the
    /// name taken, a replace met a newer version) the object is read and decides again.
    /// </summary>
    private static async Task<ApplyResult> CacheFirstAsync<T>((bool Known, T? Item) cached, Func<T?, Task<ApplyResult>> apply, Func<Task<T?>> read)
        where T : class
    {
        if (cached.Known)
        {
            try
            {
                return await apply(cached.Item);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
            {
                // The cache was behind: what is there now decides.
            }
        }

        return await apply(await read());
    }

    /// <summary>
    /// Writes back a Secret read from the API server and changed in place (the signing Secret with kids taken
    /// out: its data must be read, not rebuilt, because the private keys are not in the cache), if it is the
    /// set's; the resourceVersion it was read at is the precondition, so a newer version answers 409.
    /// </summary>
    public async Task<ApplyResult> ReplaceOwnedSecretAsync(V1Secret changed, SetIdentity owner, CancellationToken cancellationToken)
    {
        if (!Ownership.IsOwnedBy(changed.Metadata, owner))
            return ApplyResult.NotOwned;
        await client.ReplaceAsync(changed, cancellationToken);
        return ApplyResult.Written;
    }

    /// <summary>Deletes the ConfigMap if it is the set's; returns false when a foreign object holds the name.</summary>
    public Task<bool> DeleteOwnedConfigMapAsync(string ns, string name, SetIdentity owner, CancellationToken cancellationToken) =>
        DeleteOwnedAsync<V1ConfigMap>(ns, name, owner, cancellationToken);

    /// <summary>Deletes the Secret if it is the set's; returns false when a foreign object holds the name.</summary>
    public Task<bool> DeleteOwnedSecretAsync(string ns, string name, SetIdentity owner, CancellationToken cancellationToken) =>
        DeleteOwnedAsync<V1Secret>(ns, name, owner, cancellationToken);

    private async Task<bool> DeleteOwnedAsync<T>(string ns, string name, SetIdentity owner, CancellationToken cancellationToken)
        where T : class, k8s.IKubernetesObject<V1ObjectMeta>
    {
        var existing = (await client.ReadAsync<T>(ns, name, cancellationToken))?.Metadata;
        if (existing is null)
            return true;
        if (!Ownership.IsOwnedBy(existing, owner))
            return false;
        try
        {
            // The UID precondition: never delete an object that replaced ours since we read it.
            await client.DeleteAsync<T>(ns, name, existing.Uid, cancellationToken);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Conflict)
        {
        }

        return true;
    }

    internal static bool MetadataMatches(V1ObjectMeta existing, V1ObjectMeta desired) =>
        Contains(existing.Labels, desired.Labels)
        && Contains(existing.Annotations, desired.Annotations)
        && (desired.OwnerReferences ?? []).All(o => existing.OwnerReferences?.Any(e => e.Uid == o.Uid) == true);

    private static void Merge(V1ObjectMeta existing, V1ObjectMeta desired)
    {
        existing.Labels ??= new Dictionary<string, string>();
        foreach (var (key, value) in desired.Labels ?? new Dictionary<string, string>())
            existing.Labels[key] = value;
        existing.Annotations ??= new Dictionary<string, string>();
        foreach (var (key, value) in desired.Annotations ?? new Dictionary<string, string>())
            existing.Annotations[key] = value;
        foreach (var owner in desired.OwnerReferences ?? [])
        {
            existing.OwnerReferences ??= [];
            if (existing.OwnerReferences.All(e => e.Uid != owner.Uid))
                existing.OwnerReferences.Add(owner);
        }
    }

    private static bool Contains(IDictionary<string, string>? actual, IDictionary<string, string>? wanted) =>
        (wanted ?? new Dictionary<string, string>()).All(w => actual is not null && actual.TryGetValue(w.Key, out var v) && v == w.Value);

    private static bool DataEquals(IDictionary<string, string>? a, IDictionary<string, string>? b) =>
        (a?.Count ?? 0) == (b?.Count ?? 0) && Contains(a, b);
}
