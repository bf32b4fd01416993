using System.Net;
using System.Text.Json;
using k8s.Autorest;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Runtime;

namespace KeyRotator.Operator.Controllers;

/// <summary>
/// The reconcile's reads and writes of SigningKeySets through the object client: reads from the
/// informer (with the operator's own last write, so a reconcile never acts on a set older than what it
/// wrote), falling back to the API server when the cache cannot say.
/// </summary>
public sealed class SetClient(IObjectClient client)
{
    /// <summary>The set, or null when it is gone.</summary>
    public Task<V1Alpha1SigningKeySet?> GetAsync(string ns, string name, CancellationToken cancellationToken) =>
        client.GetAsync<V1Alpha1SigningKeySet>(ns, name, cancellationToken);

    /// <summary>Adds the operator's finalizer when it is missing; the set as written.</summary>
    public async Task<V1Alpha1SigningKeySet> EnsureFinalizerAsync(V1Alpha1SigningKeySet set, CancellationToken cancellationToken)
    {
        if (set.Metadata.Finalizers?.Contains(Labels.Finalizer) == true)
            return set;
        set.Metadata.Finalizers ??= [];
        set.Metadata.Finalizers.Add(Labels.Finalizer);
        return await client.ReplaceAsync(set, cancellationToken);
    }

    /// <summary>
    /// Takes the operator's finalizer off. With the last finalizer gone the API server deletes the set:
    /// until the cache hears of it, the set is gone for this operator (finalizing it again would repeat its Events).
    /// </summary>
    public async Task RemoveFinalizerAsync(V1Alpha1SigningKeySet set)
    {
        set.Metadata.Finalizers?.Remove(Labels.Finalizer);
        try
        {
            // CancellationToken.None: a cancelled clean-up must not strand the set with its finalizer.
            await client.ReplaceAsync(set, CancellationToken.None);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
        }
    }

    /// <summary>Writes status only when it changed; false on a conflict (the caller re-reads).</summary>
    public async Task<bool> WriteStatusAsync(V1Alpha1SigningKeySet set, SigningKeySetStatus status, CancellationToken cancellationToken)
    {
        if (JsonSerializer.Serialize(set.Status, KeyRotatorJson.Default.SigningKeySetStatus) == JsonSerializer.Serialize(status, KeyRotatorJson.Default.SigningKeySetStatus))
            return true;
        set.Status = status;
        try
        {
            await client.ReplaceStatusAsync(set, cancellationToken);
            return true;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            return false;
        }
    }
}
