using System.Net;
using k8s;
using k8s.Models;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Informers;

namespace KeyRotator.Testing;

/// <summary>The API server's rules the in-memory client keeps, and the informer cache it can make lag.</summary>
public sealed partial class InMemoryObjectClient
{
    /// <summary>The API server's limit on a ConfigMap's or Secret's data (validation answers 422 above it).</summary>
    public const int MaxDataBytes = 1024 * 1024;

    // The kinds the real ObjectClient handles for each verb; it throws NotSupportedException for the rest.
    private static readonly Type[] Readable = [typeof(V1ConfigMap), typeof(V1Secret), typeof(V1Namespace), typeof(V1Alpha1SigningKeySet)];
    private static readonly Type[] Listable = [typeof(V1ConfigMap), typeof(V1Secret), typeof(V1Alpha1ClusterKeyVault), typeof(V1Alpha1ClusterPublishTarget)];
    private static readonly Type[] Creatable = [typeof(V1ConfigMap), typeof(V1Secret), typeof(Corev1Event), typeof(V1Alpha1SigningKeySet)];
    private static readonly Type[] Replaceable = [typeof(V1ConfigMap), typeof(V1Secret), typeof(V1Alpha1SigningKeySet)];

    /// <summary>The informers' view of ConfigMaps and Secrets while the cache is behind (null: it is current).</summary>
    private Dictionary<(string Kind, string? Namespace, string Name), string>? _behind;

    /// <summary>
    /// From now on the cache (Peek, GetAsync, lists on the operator's label) answers for ConfigMaps and
    /// Secrets with what it holds now, as informers whose watch has not delivered yet do: changes by
    /// others and the client's own ConfigMap writes are not seen; its own Secret writes are (ObjectCache
    /// keeps read-your-writes for Secrets and sets, not for ConfigMaps). ReadAsync stays current.
    /// </summary>
    public void FallBehind()
    {
        lock (_lock)
        {
            _behind = [];
            foreach (var (key, json) in _objects.Where(o => o.Key.Kind is "ConfigMap" or "Secret"))
            {
                if (CachedJson(key.Kind, json) is { } cached)
                    _behind[key] = cached;
            }
        }
    }

    /// <summary>The informers have caught up: the cache answers with what is stored.</summary>
    public void CatchUp()
    {
        lock (_lock)
            _behind = null;
    }

    /// <summary>
    /// Deletes as someone else would (kubectl delete): an object with finalizers only gets a
    /// deletionTimestamp and goes once its last finalizer is removed; a namespace stays Terminating (the
    /// kubernetes finalizer, which no namespace controller removes here).
    /// </summary>
    public void DeleteAsSomeoneElse<T>(string? ns, string name)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        lock (_lock)
        {
            var current = Stored<T>(ns, name) ?? throw new KeyNotFoundException($"{KindOf<T>()} {ns}/{name}");
            if (current is V1Namespace namespaceObject)
            {
                namespaceObject.Metadata.DeletionTimestamp ??= Time.GetUtcNow().UtcDateTime;
                namespaceObject.Status = new V1NamespaceStatus { Phase = "Terminating" };
                Store(current);
                return;
            }

            MarkDeleted(current);
        }
    }

    private void MarkDeleted<T>(T current)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        if (current.Metadata.Finalizers is { Count: > 0 })
        {
            current.Metadata.DeletionTimestamp ??= Time.GetUtcNow().UtcDateTime;
            Store(current);
        }
        else
        {
            _objects.Remove(Key<T>(current.Metadata.NamespaceProperty, current.Metadata.Name));
        }
    }

    /// <summary>ObjectCache's read-your-writes: a Secret the client wrote is seen at once even while the cache is behind.</summary>
    private void ReadYourWrite<T>(T written)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        if (_behind is null || written is not V1Secret)
            return;
        var key = Key<T>(written.Metadata.NamespaceProperty, written.Metadata.Name);
        if (CachedJson("Secret", KubernetesJson.Serialize(written)) is { } cached)
            _behind[key] = cached;
    }

    private static string? CachedJson(string kind, string json) => kind switch
    {
        "ConfigMap" => Cached(KubernetesJson.Deserialize<V1ConfigMap>(json)) is { } cm ? KubernetesJson.Serialize(cm) : null,
        _ => Cached(KubernetesJson.Deserialize<V1Secret>(json)) is { } secret ? KubernetesJson.Serialize(secret) : null,
    };

    private static void Supports<T>(string verb, Type[] kinds)
    {
        if (!kinds.Contains(typeof(T)))
            throw new NotSupportedException($"the object client does not {verb} {typeof(T).Name}");
    }

    /// <summary>The namespace lifecycle admission: no new object in a namespace that is missing (404) or being deleted (403).</summary>
    private void CheckNamespace<T>(string? ns, string name)
    {
        if (ns is null || typeof(T) == typeof(V1Namespace) || typeof(T) == typeof(V1Alpha1ClusterKeyVault) || typeof(T) == typeof(V1Alpha1ClusterPublishTarget))
            return;
        var namespaceObject = Stored<V1Namespace>(null, ns);
        if (namespaceObject is null)
            throw Answer(HttpStatusCode.NotFound, HttpMethod.Post, KindOf<T>(), ns, name, "NotFound", $"namespaces \"{ns}\" not found");
        if (namespaceObject.Metadata.DeletionTimestamp is not null)
            throw Answer(HttpStatusCode.Forbidden, HttpMethod.Post, KindOf<T>(), ns, name, "Forbidden",
                $"{Resource<T>()} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated");
    }

    /// <summary>A replace at another resourceVersion is a conflict; without one it is unconditional only for the kinds that allow it.</summary>
    private static void CheckResourceVersion<T>(T current, T desired)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        var (ns, name) = (desired.Metadata.NamespaceProperty, desired.Metadata.Name);
        if (string.IsNullOrEmpty(desired.Metadata.ResourceVersion))
        {
            // ConfigMaps and Secrets allow an unconditional update; custom resources do not.
            if (current is V1ConfigMap or V1Secret)
                return;
            throw Answer(HttpStatusCode.UnprocessableEntity, HttpMethod.Put, KindOf<T>(), ns, name, "Invalid",
                $"{Resource<T>()} \"{name}\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update");
        }

        if (current.Metadata.ResourceVersion != desired.Metadata.ResourceVersion)
            throw Answer(HttpStatusCode.Conflict, HttpMethod.Put, KindOf<T>(), ns, name, "Conflict",
                $"Operation cannot be fulfilled on {Resource<T>()} \"{name}\": the object has been modified; please apply your changes to the latest version and try again");
    }

    /// <summary>The API server's validation of a ConfigMap's or Secret's size.</summary>
    private static void CheckSize<T>(T obj, HttpMethod method)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        var (bytes, field) = obj switch
        {
            V1ConfigMap cm => ((cm.Data?.Sum(d => d.Key.Length + d.Value.Length) ?? 0) + (cm.BinaryData?.Sum(d => d.Key.Length + d.Value.Length) ?? 0), "[]"),
            V1Secret secret => ((secret.Data?.Sum(d => d.Key.Length + d.Value.Length) ?? 0) + (secret.StringData?.Sum(d => d.Key.Length + d.Value.Length) ?? 0), "data"),
            _ => (0, ""),
        };
        if (bytes > MaxDataBytes)
            throw Answer(HttpStatusCode.UnprocessableEntity, method, KindOf<T>(), obj.Metadata.NamespaceProperty, obj.Metadata.Name, "Invalid",
                $"{KindOf<T>()} \"{obj.Metadata.Name}\" is invalid: {field}: Too long: must have at most {MaxDataBytes} bytes");
    }

    private static k8s.Autorest.HttpOperationException NotFound<T>(HttpMethod method, string? ns, string name) =>
        Answer(HttpStatusCode.NotFound, method, KindOf<T>(), ns, name, "NotFound", $"{Resource<T>()} \"{name}\" not found");

    /// <summary>The resource as the API server names it in messages (configmaps, signingkeysets.keyrotator.io).</summary>
    private static string Resource<T>() => KindOf<T>() switch
    {
        "SigningKeySet" or "ClusterKeyVault" or "ClusterPublishTarget" => $"{KindOf<T>().ToLowerInvariant()}s.{V1Alpha1SigningKeySet.Group}",
        var kind => kind.ToLowerInvariant() + "s",
    };

    /// <summary>The informer's view of an object: labelled ConfigMaps and Secrets only, Secrets without data.</summary>
    private static T? Cached<T>(T stored)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        if (stored is not (V1ConfigMap or V1Secret))
            return stored;
        if (stored.Metadata.Labels?.TryGetValue(Labels.ManagedBy, out var by) != true || by != Labels.ManagedByValue)
            return null;
        return stored is V1Secret secret ? (T)(object)SecretData.Strip(secret) : stored;
    }

}
