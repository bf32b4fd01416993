using System.Net;
using System.Text.Json;
using k8s;
using k8s.Autorest;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Informers;

namespace KeyRotator.Operator.Controllers;

/// <summary>
/// The reconcile's reads and writes of SigningKeySets: reads from the informer (with the operator's own
/// last write, so a reconcile never acts on a set older than what it wrote), falling back to the API
/// server when the cache cannot say; every write records itself in the cache.
/// </summary>
public sealed class SetClient(IKubernetes kubernetes, ObjectCache cache)
{
    private static readonly JsonSerializerOptions KubernetesJsonOptions = new(JsonSerializerDefaults.Web);
    private readonly SigningKeySetClient _sets = new(kubernetes);

    /// <summary>The set, or null when it is gone.</summary>
    public async Task<V1Alpha1SigningKeySet?> GetAsync(string ns, string name, CancellationToken cancellationToken)
    {
        var (known, cached) = cache.TryGetSet(ns, name);
        if (known)
            return cached;
        try
        {
            return await _sets.GetAsync(ns, name, cancellationToken);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>Adds the operator's finalizer when it is missing; the set as written.</summary>
    public async Task<V1Alpha1SigningKeySet> EnsureFinalizerAsync(V1Alpha1SigningKeySet set, CancellationToken cancellationToken)
    {
        if (set.Metadata.Finalizers?.Contains(Labels.Finalizer) == true)
            return set;
        set.Metadata.Finalizers ??= [];
        set.Metadata.Finalizers.Add(Labels.Finalizer);
        var over = set.Metadata.ResourceVersion;
        var written = await _sets.ReplaceAsync(set, cancellationToken);
        cache.Wrote(over, written);
        return written;
    }

    /// <summary>
    /// Takes the operator's finalizer off. With the last finalizer gone the API server deletes the set:
    /// until the cache hears of it, the set is gone for this operator (finalizing it again would repeat its Events).
    /// </summary>
    public async Task RemoveFinalizerAsync(V1Alpha1SigningKeySet set)
    {
        set.Metadata.Finalizers?.Remove(Labels.Finalizer);
        var over = set.Metadata.ResourceVersion;
        try
        {
            // CancellationToken.None: a cancelled clean-up must not strand the set with its finalizer.
            var updated = await _sets.ReplaceAsync(set, CancellationToken.None);
            if (updated.Metadata.Finalizers is not { Count: > 0 })
                cache.WroteGone(set.Metadata.NamespaceProperty, set.Metadata.Name, over);
            else
                cache.Wrote(over, updated);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
        }
    }

    /// <summary>Writes status only when it changed; false on a conflict (the caller re-reads).</summary>
    public async Task<bool> WriteStatusAsync(V1Alpha1SigningKeySet set, SigningKeySetStatus status, CancellationToken cancellationToken)
    {
        if (JsonSerializer.Serialize(set.Status, KubernetesJsonOptions) == JsonSerializer.Serialize(status, KubernetesJsonOptions))
            return true;
        set.Status = status;
        try
        {
            var over = set.Metadata.ResourceVersion;
            cache.Wrote(over, await _sets.ReplaceStatusAsync(set, cancellationToken));
            return true;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            return false;
        }
    }
}
