using System.Text.Json;
using k8s;
using k8s.Models;
using KeyRotator.Operator.Entities;
using KeyRotator.Operator.Kubernetes;

namespace KeyRotator.Operator.Informers;

/// <summary>
/// List and watch calls for what the operator watches: SigningKeySets, and only the ConfigMaps and
/// Secrets labelled as managed by KeyRotator (never every Secret in the cluster).
/// </summary>
public static class InformerSources
{
    private const string Group = V1Alpha1SigningKeySet.Group;
    private const string Version = V1Alpha1SigningKeySet.Version;
    private const string Plural = V1Alpha1SigningKeySet.Plural;

    public static ListWatch<V1Alpha1SigningKeySet> SigningKeySets(IKubernetes kubernetes, string? ns) => new(
        $"signingkeysets in {ns ?? "all namespaces"}",
        async ct =>
        {
            var response = ns is null
                ? await kubernetes.CustomObjects.ListClusterCustomObjectAsync(Group, Version, Plural, cancellationToken: ct)
                : await kubernetes.CustomObjects.ListNamespacedCustomObjectAsync(Group, Version, ns, Plural, cancellationToken: ct);
            var list = KubernetesJson.Deserialize<V1Alpha1SigningKeySetList>(((JsonElement)response).GetRawText());
            return (list.Items, list.Metadata.ResourceVersion);
        },
        (resourceVersion, timeoutSeconds, onError, ct) => ns is null
            ? Typed(kubernetes.CustomObjects.WatchListClusterCustomObjectAsync(Group, Version, Plural,
                allowWatchBookmarks: true, resourceVersion: resourceVersion, timeoutSeconds: timeoutSeconds, onError: onError, cancellationToken: ct))
            : Typed(kubernetes.CustomObjects.WatchListNamespacedCustomObjectAsync(Group, Version, ns, Plural,
                allowWatchBookmarks: true, resourceVersion: resourceVersion, timeoutSeconds: timeoutSeconds, onError: onError, cancellationToken: ct)));

    private static async IAsyncEnumerable<(WatchEventType, V1Alpha1SigningKeySet)> Typed(IAsyncEnumerable<(WatchEventType, object)> events)
    {
        await foreach (var (type, item) in events)
        {
            var json = item is JsonElement element ? element.GetRawText() : KubernetesJson.Serialize(item);
            yield return (type, KubernetesJson.Deserialize<V1Alpha1SigningKeySet>(json));
        }
    }

    public static ListWatch<V1ConfigMap> ConfigMaps(IKubernetes kubernetes, string? ns) => new(
        $"managed configmaps in {ns ?? "all namespaces"}",
        async ct =>
        {
            var list = ns is null
                ? await kubernetes.CoreV1.ListConfigMapForAllNamespacesAsync(labelSelector: Labels.ManagedBySelector, cancellationToken: ct)
                : await kubernetes.CoreV1.ListNamespacedConfigMapAsync(ns, labelSelector: Labels.ManagedBySelector, cancellationToken: ct);
            return (list.Items, list.Metadata.ResourceVersion);
        },
        (resourceVersion, timeoutSeconds, onError, ct) => ns is null
            ? kubernetes.CoreV1.WatchListConfigMapForAllNamespacesAsync(allowWatchBookmarks: true, labelSelector: Labels.ManagedBySelector,
                resourceVersion: resourceVersion, timeoutSeconds: timeoutSeconds, onError: onError, cancellationToken: ct)
            : kubernetes.CoreV1.WatchListNamespacedConfigMapAsync(ns, allowWatchBookmarks: true, labelSelector: Labels.ManagedBySelector,
                resourceVersion: resourceVersion, timeoutSeconds: timeoutSeconds, onError: onError, cancellationToken: ct));

    public static ListWatch<V1Secret> Secrets(IKubernetes kubernetes, string? ns) => new(
        $"managed secrets in {ns ?? "all namespaces"}",
        async ct =>
        {
            var list = ns is null
                ? await kubernetes.CoreV1.ListSecretForAllNamespacesAsync(labelSelector: Labels.ManagedBySelector, cancellationToken: ct)
                : await kubernetes.CoreV1.ListNamespacedSecretAsync(ns, labelSelector: Labels.ManagedBySelector, cancellationToken: ct);
            return (list.Items, list.Metadata.ResourceVersion);
        },
        (resourceVersion, timeoutSeconds, onError, ct) => ns is null
            ? kubernetes.CoreV1.WatchListSecretForAllNamespacesAsync(allowWatchBookmarks: true, labelSelector: Labels.ManagedBySelector,
                resourceVersion: resourceVersion, timeoutSeconds: timeoutSeconds, onError: onError, cancellationToken: ct)
            : kubernetes.CoreV1.WatchListNamespacedSecretAsync(ns, allowWatchBookmarks: true, labelSelector: Labels.ManagedBySelector,
                resourceVersion: resourceVersion, timeoutSeconds: timeoutSeconds, onError: onError, cancellationToken: ct));
}
