using System.Text.Json;
using k8s;
using k8s.Models;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
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

    /// <summary>
    /// SigningKeySets are decoded one by one: an object that does not decode (written by hand around the
    /// schema, or by a newer version) is reported through <paramref name="undecodable"/> and skipped, so
    /// that it cannot make the informer re-list in a loop and block every other set.
    /// </summary>
    public static ListWatch<V1Alpha1SigningKeySet> SigningKeySets(IKubernetes kubernetes, string? ns, Action<UndecodableObject>? undecodable = null) => new(
        $"signingkeysets in {ns ?? "all namespaces"}",
        async ct =>
        {
            var response = (JsonElement)(ns is null
                ? await kubernetes.CustomObjects.ListClusterCustomObjectAsync(Group, Version, Plural, cancellationToken: ct)
                : await kubernetes.CustomObjects.ListNamespacedCustomObjectAsync(Group, Version, ns, Plural, cancellationToken: ct));
            var items = new List<V1Alpha1SigningKeySet>();
            foreach (var item in response.GetProperty("items").EnumerateArray())
            {
                if (Decode(item, undecodable) is { } set)
                    items.Add(set);
            }

            return (items, response.GetProperty("metadata").GetProperty("resourceVersion").GetString()!);
        },
        (resourceVersion, timeoutSeconds, onError, ct) => kubernetes.WatchAsync(
            Watch(WatchRequest.Group(Group, Version, Plural, ns), resourceVersion, timeoutSeconds, labelSelector: null),
            item => Decode(item, undecodable), onError, ct));

    private static V1Alpha1SigningKeySet? Decode(JsonElement item, Action<UndecodableObject>? undecodable)
    {
        try
        {
            return KubernetesJson.Deserialize<V1Alpha1SigningKeySet>(item);
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            string? Meta(string property) =>
                item.TryGetProperty("metadata", out var metadata) && metadata.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String
                    ? value.GetString()
                    : null;
            undecodable?.Invoke(new UndecodableObject(Meta("namespace") ?? "", Meta("name") ?? "?", Meta("uid"), Meta("resourceVersion"), e.Message));
            return null;
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
        (resourceVersion, timeoutSeconds, onError, ct) => kubernetes.WatchAsync<V1ConfigMap>(
            Watch(WatchRequest.Core("configmaps", ns), resourceVersion, timeoutSeconds, Labels.ManagedBySelector), onError, ct));

    /// <summary>Managed Secrets, cached without their data (<see cref="SecretData"/>): private keys are not kept in memory.</summary>
    public static ListWatch<V1Secret> Secrets(IKubernetes kubernetes, string? ns) => new(
        $"managed secrets in {ns ?? "all namespaces"}",
        async ct =>
        {
            var list = ns is null
                ? await kubernetes.CoreV1.ListSecretForAllNamespacesAsync(labelSelector: Labels.ManagedBySelector, cancellationToken: ct)
                : await kubernetes.CoreV1.ListNamespacedSecretAsync(ns, labelSelector: Labels.ManagedBySelector, cancellationToken: ct);
            return ([.. list.Items.Select(SecretData.Strip)], list.Metadata.ResourceVersion);
        },
        (resourceVersion, timeoutSeconds, onError, ct) => kubernetes.WatchAsync(
            Watch(WatchRequest.Core("secrets", ns), resourceVersion, timeoutSeconds, Labels.ManagedBySelector),
            item => SecretData.Strip(KubernetesJson.Deserialize<V1Secret>(item)), onError, ct));

    private static WatchRequest Watch(WatchRequest request, string resourceVersion, int timeoutSeconds, string? labelSelector) =>
        request with { ResourceVersion = resourceVersion, TimeoutSeconds = timeoutSeconds, LabelSelector = labelSelector };
}

/// <summary>A listed or watched object that does not decode into the operator's model, and why.</summary>
public sealed record UndecodableObject(string Namespace, string Name, string? Uid, string? ResourceVersion, string Error);
