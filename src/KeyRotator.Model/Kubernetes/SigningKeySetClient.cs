using System.Net;
using System.Text.Json;
using k8s;
using k8s.Autorest;
using KeyRotator.Model.Resources;

namespace KeyRotator.Model.Kubernetes;

/// <summary>Typed access to SigningKeySets over the raw custom-objects API.</summary>
public sealed class SigningKeySetClient(IKubernetes kubernetes, TimeProvider? time = null)
{
    /// <summary>How many times <see cref="UpdateAsync"/> reads and writes before it gives up on conflicts (client-go's retry.DefaultRetry: 5).</summary>
    public const int UpdateAttempts = 5;

    private const string Group = V1Alpha1SigningKeySet.Group;
    private const string Version = V1Alpha1SigningKeySet.Version;
    private const string Plural = V1Alpha1SigningKeySet.Plural;

    public async Task<V1Alpha1SigningKeySet> CreateAsync(V1Alpha1SigningKeySet set, CancellationToken cancellationToken = default)
    {
        var created = await kubernetes.CustomObjects.CreateNamespacedCustomObjectAsync(
            set, Group, Version, set.Metadata.NamespaceProperty, Plural, cancellationToken: cancellationToken);
        return Convert<V1Alpha1SigningKeySet>(created);
    }

    public async Task<V1Alpha1SigningKeySet> GetAsync(string ns, string name, CancellationToken cancellationToken = default)
    {
        var found = await kubernetes.CustomObjects.GetNamespacedCustomObjectAsync(Group, Version, ns, Plural, name, cancellationToken);
        return Convert<V1Alpha1SigningKeySet>(found);
    }

    public async Task<V1Alpha1SigningKeySetList> ListAsync(string? ns = null, CancellationToken cancellationToken = default)
    {
        var list = ns is null
            ? await kubernetes.CustomObjects.ListClusterCustomObjectAsync(Group, Version, Plural, cancellationToken: cancellationToken)
            : await kubernetes.CustomObjects.ListNamespacedCustomObjectAsync(Group, Version, ns, Plural, cancellationToken: cancellationToken);
        return Convert<V1Alpha1SigningKeySetList>(list);
    }

    /// <summary>Replaces metadata and spec; the API server ignores status here (status subresource).</summary>
    public async Task<V1Alpha1SigningKeySet> ReplaceAsync(V1Alpha1SigningKeySet set, CancellationToken cancellationToken = default)
    {
        var replaced = await kubernetes.CustomObjects.ReplaceNamespacedCustomObjectAsync(
            set, Group, Version, set.Metadata.NamespaceProperty, Plural, set.Metadata.Name, cancellationToken: cancellationToken);
        return Convert<V1Alpha1SigningKeySet>(replaced);
    }

    /// <summary>
    /// Reads the set, applies <paramref name="change"/> and writes it back; when the write loses a race
    /// (409 Conflict: another writer got in between, and the operator's own status updates count), reads
    /// again and applies the change to what is there now, as client-go's retry.RetryOnConflict does, so
    /// that neither this change nor the other writer's is lost. <paramref name="change"/> returns false
    /// when the set already is as wanted: then nothing is written. After <see cref="UpdateAttempts"/>
    /// conflicts in a row the last one is thrown.
    /// </summary>
    public async Task<V1Alpha1SigningKeySet> UpdateAsync(string ns, string name, Func<V1Alpha1SigningKeySet, bool> change, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(change);
        for (var attempt = 1; ; attempt++)
        {
            var set = await GetAsync(ns, name, cancellationToken);
            if (!change(set))
                return set;
            try
            {
                return await ReplaceAsync(set, cancellationToken);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict && attempt < UpdateAttempts)
            {
                // client-go waits 10 ms between attempts; a little more each time spreads writers that collided.
                await Task.Delay(TimeSpan.FromMilliseconds(10 * attempt), time ?? TimeProvider.System, cancellationToken);
            }
        }
    }

    /// <summary>Replaces status only; guarded by the resourceVersion in <paramref name="set"/>.</summary>
    public async Task<V1Alpha1SigningKeySet> ReplaceStatusAsync(V1Alpha1SigningKeySet set, CancellationToken cancellationToken = default)
    {
        var replaced = await kubernetes.CustomObjects.ReplaceNamespacedCustomObjectStatusAsync(
            set, Group, Version, set.Metadata.NamespaceProperty, Plural, set.Metadata.Name, cancellationToken: cancellationToken);
        return Convert<V1Alpha1SigningKeySet>(replaced);
    }

    public async Task DeleteAsync(string ns, string name, CancellationToken cancellationToken = default) =>
        await kubernetes.CustomObjects.DeleteNamespacedCustomObjectAsync(Group, Version, ns, Plural, name, cancellationToken: cancellationToken);

    private static T Convert<T>(object response) => response switch
    {
        JsonElement element => KubernetesJson.Deserialize<T>(element.GetRawText()),
        _ => KubernetesJson.Deserialize<T>(KubernetesJson.Serialize(response)),
    };
}
