using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Runtime;

namespace KeyRotator.Operator.Informers;

/// <summary>
/// <see cref="IObjectClient"/> over the API server with the informers' <see cref="ObjectCache"/> behind
/// it: cached reads where the informers hold the kind (SigningKeySets, and the labelled ConfigMaps and
/// Secrets), and every write recorded in the cache so that the next read sees it (read-your-writes) until
/// the informer has caught up.
/// </summary>
public sealed class ObjectClient(IKubernetes kubernetes, ObjectCache cache) : IObjectClient
{
    private readonly SigningKeySetClient _sets = new(kubernetes);

    public async Task<T?> GetAsync<T>(string? ns, string name, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        var (known, item) = Peek<T>(ns, name);
        return known ? item : await ReadAsync<T>(ns, name, cancellationToken);
    }

    public async Task<T?> ReadAsync<T>(string? ns, string name, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        try
        {
            object read = typeof(T) switch
            {
                var t when t == typeof(V1ConfigMap) => await kubernetes.CoreV1.ReadNamespacedConfigMapAsync(name, ns, cancellationToken: cancellationToken),
                var t when t == typeof(V1Secret) => await kubernetes.CoreV1.ReadNamespacedSecretAsync(name, ns, cancellationToken: cancellationToken),
                var t when t == typeof(V1Namespace) => await kubernetes.CoreV1.ReadNamespaceAsync(name, cancellationToken: cancellationToken),
                var t when t == typeof(V1Alpha1SigningKeySet) => await _sets.GetAsync(ns!, name, cancellationToken),
                _ => throw Unsupported<T>("read"),
            };
            return (T)read;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public (bool Known, T? Item) Peek<T>(string? ns, string name)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        if (ns is null)
            return (false, null);
        (bool Known, object? Item) cached = typeof(T) switch
        {
            var t when t == typeof(V1Alpha1SigningKeySet) => cache.TryGetSet(ns, name),
            var t when t == typeof(V1ConfigMap) => cache.TryGetConfigMap(ns, name),
            var t when t == typeof(V1Secret) => cache.TryGetSecret(ns, name),
            _ => (false, null),
        };
        return (cached.Known, (T?)cached.Item);
    }

    public async Task<IReadOnlyList<T>> ListAsync<T>(IReadOnlyCollection<string> namespaces, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        // The informers hold every labelled ConfigMap and Secret in the watched namespaces, indexed by set:
        // no LIST per reconcile (that was O(all objects) on the API server, so convergence was quadratic).
        if (cache.List<T>(labels) is { } cached)
            return namespaces.Count == 0 ? cached : [.. cached.Where(i => namespaces.Contains(i.Metadata.NamespaceProperty))];

        var selector = string.Join(',', labels.Select(l => $"{l.Key}={l.Value}"));
        if (typeof(T) == typeof(V1Alpha1ClusterKeyVault))
        {
            var vaults = await kubernetes.CustomObjects.ListClusterCustomObjectAsync<V1Alpha1ClusterKeyVaultList>(
                V1Alpha1SigningKeySet.Group, V1Alpha1SigningKeySet.Version, V1Alpha1ClusterKeyVault.Plural, labelSelector: selector, cancellationToken: cancellationToken);
            return [.. vaults.Items.Cast<T>()];
        }

        if (typeof(T) == typeof(V1Alpha1ClusterPublishTarget))
        {
            var targets = await kubernetes.CustomObjects.ListClusterCustomObjectAsync<V1Alpha1ClusterPublishTargetList>(
                V1Alpha1SigningKeySet.Group, V1Alpha1SigningKeySet.Version, V1Alpha1ClusterPublishTarget.Plural, labelSelector: selector, cancellationToken: cancellationToken);
            return [.. targets.Items.Cast<T>()];
        }

        if (namespaces.Count == 0)
        {
            return typeof(T) switch
            {
                var t when t == typeof(V1ConfigMap) => [.. (await kubernetes.CoreV1.ListConfigMapForAllNamespacesAsync(labelSelector: selector, cancellationToken: cancellationToken)).Items.Cast<T>()],
                var t when t == typeof(V1Secret) => [.. (await kubernetes.CoreV1.ListSecretForAllNamespacesAsync(labelSelector: selector, cancellationToken: cancellationToken)).Items.Cast<T>()],
                _ => throw Unsupported<T>("list"),
            };
        }

        var found = new List<T>();
        foreach (var ns in namespaces)
        {
            found.AddRange(typeof(T) switch
            {
                var t when t == typeof(V1ConfigMap) => (await kubernetes.CoreV1.ListNamespacedConfigMapAsync(ns, labelSelector: selector, cancellationToken: cancellationToken)).Items.Cast<T>(),
                var t when t == typeof(V1Secret) => (await kubernetes.CoreV1.ListNamespacedSecretAsync(ns, labelSelector: selector, cancellationToken: cancellationToken)).Items.Cast<T>(),
                _ => throw Unsupported<T>("list"),
            });
        }

        return found;
    }

    public async Task<T> CreateAsync<T>(T desired, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        var ns = desired.Metadata.NamespaceProperty;
        object created = desired switch
        {
            V1ConfigMap cm => await kubernetes.CoreV1.CreateNamespacedConfigMapAsync(cm, ns, cancellationToken: cancellationToken),
            V1Secret secret => await kubernetes.CoreV1.CreateNamespacedSecretAsync(secret, ns, cancellationToken: cancellationToken),
            Corev1Event ev => await kubernetes.CoreV1.CreateNamespacedEventAsync(ev, ns, cancellationToken: cancellationToken),
            V1Alpha1SigningKeySet set => await _sets.CreateAsync(set, cancellationToken),
            _ => throw Unsupported<T>("create"),
        };
        Wrote(null, created);
        return (T)created;
    }

    public async Task<T> ReplaceAsync<T>(T desired, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        var (ns, name, over) = (desired.Metadata.NamespaceProperty, desired.Metadata.Name, desired.Metadata.ResourceVersion);
        object replaced = desired switch
        {
            V1ConfigMap cm => await kubernetes.CoreV1.ReplaceNamespacedConfigMapAsync(cm, name, ns, cancellationToken: cancellationToken),
            V1Secret secret => await kubernetes.CoreV1.ReplaceNamespacedSecretAsync(secret, name, ns, cancellationToken: cancellationToken),
            V1Alpha1SigningKeySet set => await _sets.ReplaceAsync(set, cancellationToken),
            _ => throw Unsupported<T>("replace"),
        };
        // With the last finalizer removed from a set being deleted, the API server deletes it: gone for this operator.
        if (desired is V1Alpha1SigningKeySet { Metadata.DeletionTimestamp: not null } && ((V1Alpha1SigningKeySet)replaced).Metadata.Finalizers is not { Count: > 0 })
            cache.WroteGone(ns, name, over);
        else
            Wrote(over, replaced);
        return (T)replaced;
    }

    public async Task<T> ReplaceStatusAsync<T>(T desired, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        var over = desired.Metadata.ResourceVersion;
        object replaced = desired switch
        {
            V1Alpha1SigningKeySet set => await _sets.ReplaceStatusAsync(set, cancellationToken),
            _ => throw Unsupported<T>("replace the status of"),
        };
        Wrote(over, replaced);
        return (T)replaced;
    }

    public async Task DeleteAsync<T>(string ns, string name, string uid, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        var options = new V1DeleteOptions { Preconditions = new V1Preconditions { Uid = uid } };
        _ = typeof(T) switch
        {
            var t when t == typeof(V1ConfigMap) => await kubernetes.CoreV1.DeleteNamespacedConfigMapAsync(name, ns, options, cancellationToken: cancellationToken),
            var t when t == typeof(V1Secret) => await kubernetes.CoreV1.DeleteNamespacedSecretAsync(name, ns, options, cancellationToken: cancellationToken),
            _ => throw Unsupported<T>("delete"),
        };
    }

    /// <summary>Read-your-writes: the cache answers with what was written until the informer has seen it (or anything newer).</summary>
    private void Wrote(string? over, object written)
    {
        switch (written)
        {
            case V1Alpha1SigningKeySet set:
                cache.Wrote(over, set);
                break;
            case V1Secret secret:
                cache.WroteSecret(over, secret);
                break;
        }
    }

    private static NotSupportedException Unsupported<T>(string verb) => new($"the object client does not {verb} {typeof(T).Name}");
}
