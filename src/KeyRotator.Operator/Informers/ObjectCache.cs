using System.Collections.Concurrent;
using k8s;
using k8s.Models;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Runtime;

namespace KeyRotator.Operator.Informers;

/// <summary>
/// Reads from the informers the controller runs, so that a reconcile does not GET what a watch already
/// delivered nor LIST to find what belongs to a set. Every answer is either exact or "ask the API
/// server" (null from the Try methods): before the informers have listed, for namespaces they do not
/// watch, and for objects the operator has not labelled (a name held by someone else is never in the
/// cache, so callers that find nothing still meet it as a conflict when they write).
/// Objects handed out are copies: callers may change them.
/// </summary>
public sealed class ObjectCache : IRemembersSets
{
    private readonly List<ResourceInformer<V1Alpha1SigningKeySet>> _sets = [];
    private readonly List<(string? Namespace, ResourceInformer<V1ConfigMap> Informer)> _configMaps = [];
    private readonly List<(string? Namespace, ResourceInformer<V1Secret> Informer)> _secrets = [];

    /// <summary>
    /// Read-your-writes for sets: the object the operator last wrote and the resourceVersion it wrote
    /// over. While the cache still holds that older version, the written one is the truth.
    /// </summary>
    private readonly ConcurrentDictionary<(string Namespace, string Name), (string? Over, V1Alpha1SigningKeySet? Written)> _written = new();

    /// <summary>The same for Secrets the operator wrote (kept without data, as the informer keeps them).</summary>
    private readonly ConcurrentDictionary<(string Namespace, string Name), (string? Over, V1Secret Written)> _writtenSecrets = new();

    /// <summary>The index key of a set's JWKS copies.</summary>
    public static string SetKey(string ns, string name) => $"{ns}/{name}";

    public void Register(ResourceInformer<V1Alpha1SigningKeySet> sets) => _sets.Add(sets);

    /// <summary>Registers the ConfigMap informer of <paramref name="ns"/> (null: every namespace), indexed by set.</summary>
    public void Register(string? ns, ResourceInformer<V1ConfigMap> configMaps)
    {
        configMaps.IndexBy(SetIndexKey);
        _configMaps.Add((ns, configMaps));
    }

    /// <summary>Registers the Secret informer of <paramref name="ns"/> (null: every namespace), indexed by set.</summary>
    public void Register(string? ns, ResourceInformer<V1Secret> secrets)
    {
        secrets.IndexBy(SetIndexKey);
        secrets.Changed += (type, secret) =>
        {
            // Any news of the Secret other than the version the write replaced (the write itself, a later
            // change, a deletion) ends the written copy's reign: from now on the informer knows better.
            var key = (secret.Metadata.NamespaceProperty, secret.Metadata.Name);
            if (_writtenSecrets.TryGetValue(key, out var written) && (type == WatchEventType.Deleted || secret.Metadata.ResourceVersion != written.Over))
                _writtenSecrets.TryRemove(new KeyValuePair<(string, string), (string?, V1Secret)>(key, written));
        };
        _secrets.Add((ns, secrets));
    }

    private static string? SetIndexKey(IKubernetesObject<V1ObjectMeta> item) =>
        item.Metadata.Labels is { } labels && labels.TryGetValue(Labels.SetNamespace, out var setNs) && labels.TryGetValue(Labels.SetName, out var setName)
            ? SetKey(setNs, setName) : null;

    /// <summary>The set as last seen or written, or null when the cache cannot say (not listed yet); absent sets come back as (true, null).</summary>
    public (bool Known, V1Alpha1SigningKeySet? Set) TryGetSet(string ns, string name)
    {
        if (_sets.Count == 0 || !_sets.TrueForAll(i => i.HasSynced))
            return (false, null);
        var cached = _sets.Select(i => i.Get(ns, name)).FirstOrDefault(s => s is not null);
        if (_written.TryGetValue((ns, name), out var written))
        {
            if (cached is not null && cached.Metadata.ResourceVersion == written.Over)
                return (true, written.Written is null ? null : Copy(written.Written));
            _written.TryRemove(new KeyValuePair<(string, string), (string?, V1Alpha1SigningKeySet?)>((ns, name), written));
        }

        return (true, cached is null ? null : Copy(cached));
    }

    /// <summary>Records a write of the set (<paramref name="over"/>: the resourceVersion it replaced).</summary>
    public void Wrote(string? over, V1Alpha1SigningKeySet written) =>
        _written[(written.Metadata.NamespaceProperty, written.Metadata.Name)] = (over, Copy(written));

    /// <summary>Records that the operator's write (removing the last finalizer) deleted the set.</summary>
    public void WroteGone(string ns, string name, string? over) => _written[(ns, name)] = (over, null);

    /// <summary>
    /// Drops what was remembered of the operator's writes of the set, except the record that its last
    /// write deleted it while the informer still holds the version that write replaced: until the watch
    /// reports the deletion, that record is what keeps a reconcile from finalizing the set a second time
    /// (the Deleted event calls this again, with the informer's copy gone).
    /// </summary>
    public void Forget(SetKey set, string? uid)
    {
        var key = (set.Namespace, set.Name);
        if (_written.TryGetValue(key, out var written) && written.Written is null
            && _sets.Select(i => i.Get(set.Namespace, set.Name)).FirstOrDefault(s => s is not null) is { } cached
            && cached.Metadata.ResourceVersion == written.Over)
            return;
        _written.TryRemove(key, out _);
    }

    /// <summary>The labelled ConfigMap, absent (Known, null), or unknown (the namespace is not watched or not listed yet).</summary>
    public (bool Known, V1ConfigMap? ConfigMap) TryGetConfigMap(string ns, string name)
    {
        var informer = For(_configMaps, ns);
        if (informer is null)
            return (false, null);
        return informer.Get(ns, name) is { } cm ? (true, Copy(cm)) : (true, null);
    }

    /// <summary>
    /// The labelled Secret as last seen or written, absent (Known, null), or unknown. Its data is not
    /// cached: the copy carries <see cref="SecretData.DigestAnnotation"/> instead.
    /// </summary>
    public (bool Known, V1Secret? Secret) TryGetSecret(string ns, string name)
    {
        var informer = For(_secrets, ns);
        if (informer is null)
            return (false, null);
        var cached = informer.Get(ns, name);
        if (_writtenSecrets.TryGetValue((ns, name), out var written))
        {
            if (cached?.Metadata.ResourceVersion == written.Over)
                return (true, Copy(written.Written));
            _writtenSecrets.TryRemove(new KeyValuePair<(string, string), (string?, V1Secret)>((ns, name), written));
        }

        return cached is not null ? (true, Copy(cached)) : (true, null);
    }

    /// <summary>
    /// Records a write of a labelled Secret (<paramref name="over"/>: the resourceVersion it replaced, null
    /// for a create), so that reads until the informer catches up see it. Its data is not kept.
    /// </summary>
    public void WroteSecret(string? over, V1Secret written)
    {
        if (written.Metadata?.Labels is not { } labels || !labels.TryGetValue(Labels.ManagedBy, out var by) || by != Labels.ManagedByValue)
            return;
        var copy = SecretData.StrippedCopy(written, Copy(written.Metadata));
        _writtenSecrets[(copy.Metadata.NamespaceProperty, copy.Metadata.Name)] = (over, copy);
    }

    /// <summary>Every Secret the informers hold (for tests: what a replica keeps in memory).</summary>
    internal IEnumerable<V1Secret> CachedSecrets => _secrets.SelectMany(s => s.Informer.Items);

    /// <summary>
    /// The labelled ConfigMaps or Secrets carrying every label of <paramref name="labels"/> in the watched
    /// namespaces (by the set index when the labels name a set), or null when the cache cannot say.
    /// </summary>
    public IReadOnlyList<T>? List<T>(IReadOnlyDictionary<string, string> labels)
        where T : class, IKubernetesObject<V1ObjectMeta> =>
        typeof(T) == typeof(V1ConfigMap) ? (IReadOnlyList<T>?)Matching(_configMaps, labels)
        : typeof(T) == typeof(V1Secret) ? (IReadOnlyList<T>?)Matching(_secrets, labels)
        : null;

    private static List<T>? Matching<T>(List<(string? Namespace, ResourceInformer<T> Informer)> informers, IReadOnlyDictionary<string, string> labels)
        where T : IKubernetesObject<V1ObjectMeta>
    {
        if (informers.Count == 0 || !informers.TrueForAll(c => c.Informer.HasSynced)
            || !labels.TryGetValue(Labels.ManagedBy, out var by) || by != Labels.ManagedByValue)
            return null;
        var found = new List<T>();
        foreach (var (_, informer) in informers)
        {
            var candidates = labels.TryGetValue(Labels.SetNamespace, out var setNs) && labels.TryGetValue(Labels.SetName, out var setName)
                ? informer.ByIndex(SetKey(setNs, setName))
                : informer.Items;
            foreach (var item in candidates)
            {
                if (labels.All(l => item.Metadata.Labels?.TryGetValue(l.Key, out var value) == true && value == l.Value))
                    found.Add(Copy(item));
            }
        }

        return found;
    }

    private static ResourceInformer<T>? For<T>(List<(string? Namespace, ResourceInformer<T> Informer)> informers, string ns)
        where T : IKubernetesObject<V1ObjectMeta>
    {
        foreach (var (scope, informer) in informers)
        {
            if ((scope is null || scope == ns) && informer.HasSynced)
                return informer;
        }

        return null;
    }

    private static T Copy<T>(T item) => KubernetesJson.Deserialize<T>(KubernetesJson.Serialize(item));
}
