// Longer than 300 lines: it answers every IObjectClient call as the API server does, over one store; split by verb, the rules each call shares would be scattered.
using System.Globalization;
using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Informers;
using KeyRotator.Operator.Runtime;

namespace KeyRotator.Testing;

/// <summary>One write the client was asked to make, in the order it was made ("create Event" writes name the Event's reason).</summary>
public sealed record ObjectWrite(string Verb, string Kind, string? Namespace, string Name)
{
    public override string ToString() => $"{Verb} {Kind} {(Namespace is null ? "" : Namespace + "/")}{Name}";
}

/// <summary>
/// The world a reconciler test starts from and the writes the reconcile made, in memory, answering as
/// the API server does where the operator depends on it: resourceVersions and UIDs, 404 for a missing
/// object, 409 for a taken name, a stale resourceVersion or a UID precondition that does not match, the
/// status subresource (a replace keeps status, a status replace keeps the rest), a set's generation
/// moving with its spec, finalizers (a delete marks the object, the last finalizer's removal deletes it),
/// namespaces that are missing (404) or terminating (403), an unconditional replace (no resourceVersion)
/// of ConfigMaps and Secrets only, the 1 MiB limit on their data, and the calls the real
/// <c>ObjectClient</c> does not make (NotSupportedException). The cache view (<see cref="Peek{T}"/>, and
/// lists that select the operator's label) is the informers': ConfigMaps and Secrets only when labelled
/// as the operator's, Secrets without data (SecretData's digest instead); other lists are the API
/// server's. <see cref="FallBehind"/> makes that cache lag as informers do. Objects are copied in and
/// out, as over the wire. <see cref="Refuse"/> makes chosen requests fail with the status a test picks.
/// ObjectClientContract (run here and against a real kube-apiserver) checks that it answers as the API server does.
/// </summary>
public sealed partial class InMemoryObjectClient : IObjectClient
{
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Kind, string? Namespace, string Name), string> _objects = [];
    private readonly List<(Func<ObjectWrite, HttpStatusCode?> When, string? Message)> _refusals = [];
    private long _resourceVersion;

    /// <summary>The writes made since the test began (or since <see cref="ClearWrites"/>), in order.</summary>
    /// <summary>The CRD's maxLength of a status condition's message (config/crds), which the API server enforces.</summary>
    public const int MaxConditionMessage = 32768;

    public List<ObjectWrite> Writes { get; } = [];

    /// <summary>The Events recorded, in order.</summary>
    public List<Corev1Event> Events { get; } = [];

    /// <summary>The time creationTimestamps are taken from.</summary>
    public TimeProvider Time { get; set; } = TimeProvider.System;

    /// <summary>Puts <paramref name="obj"/> into the world as it stands before the test (not a write).</summary>
    public T Seed<T>(T obj)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        lock (_lock)
        {
            obj = Copy(obj);
            obj.Metadata.Uid ??= Guid.NewGuid().ToString();
            obj.Metadata.CreationTimestamp ??= Time.GetUtcNow().UtcDateTime;
            if (obj is V1Alpha1SigningKeySet set)
                set.Metadata.Generation ??= 1;
            Store(obj);
            return Copy(obj);
        }
    }

    /// <summary>The object as stored now (with data), or null.</summary>
    public T? Stored<T>(string? ns, string name)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        lock (_lock)
            return _objects.TryGetValue(Key<T>(ns, name), out var json) ? KubernetesJson.Deserialize<T>(json) : null;
    }

    /// <summary>Changes a stored object as someone else would (not one of the operator's writes): the resourceVersion moves, and a set's generation with its spec.</summary>
    public T Change<T>(string? ns, string name, Action<T> change)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        lock (_lock)
        {
            var obj = Stored<T>(ns, name) ?? throw new KeyNotFoundException($"{KindOf<T>()} {ns}/{name}");
            var spec = obj is V1Alpha1SigningKeySet before ? KubernetesJson.Serialize(before.Spec) : null;
            change(obj);
            if (obj is V1Alpha1SigningKeySet after && KubernetesJson.Serialize(after.Spec) != spec)
                after.Metadata.Generation = (after.Metadata.Generation ?? 1) + 1;
            Store(obj);
            return Copy(obj);
        }
    }

    /// <summary>Removes a stored object as someone else would.</summary>
    public void Remove<T>(string? ns, string name)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        lock (_lock)
            _objects.Remove(Key<T>(ns, name));
    }

    public void ClearWrites()
    {
        lock (_lock)
        {
            Writes.Clear();
            Events.Clear();
        }
    }

    public Task<T?> GetAsync<T>(string? ns, string name, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        var (known, item) = Peek<T>(ns, name);
        return known ? Task.FromResult(item) : ReadAsync<T>(ns, name, cancellationToken);
    }

    public Task<T?> ReadAsync<T>(string? ns, string name, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        Supports<T>("read", Readable);
        lock (_lock)
        {
            Check(new ObjectWrite("get", KindOf<T>(), ns, name), HttpMethod.Get);
            return Task.FromResult(Stored<T>(ns, name));
        }
    }

    public (bool Known, T? Item) Peek<T>(string? ns, string name)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        if (ns is null || (typeof(T) != typeof(V1Alpha1SigningKeySet) && typeof(T) != typeof(V1ConfigMap) && typeof(T) != typeof(V1Secret)))
            return (false, null);
        lock (_lock)
        {
            if (_behind is not null && typeof(T) != typeof(V1Alpha1SigningKeySet))
                return (true, _behind.TryGetValue(Key<T>(ns, name), out var old) ? KubernetesJson.Deserialize<T>(old) : null);
            var stored = Stored<T>(ns, name);
            return (true, stored is null ? null : Cached(stored));
        }
    }

    public Task<IReadOnlyList<T>> ListAsync<T>(IReadOnlyCollection<string> namespaces, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        Supports<T>("list", Listable);
        lock (_lock)
        {
            Check(new ObjectWrite("list", KindOf<T>(), null, string.Join(',', labels.Select(l => $"{l.Key}={l.Value}"))), HttpMethod.Get);
            // As ObjectClient: a selector on the operator's label is answered by the informers (labelled objects,
            // Secrets without data, possibly behind); any other is a LIST on the API server.
            var fromCache = (typeof(T) == typeof(V1ConfigMap) || typeof(T) == typeof(V1Secret))
                && labels.TryGetValue(Labels.ManagedBy, out var by) && by == Labels.ManagedByValue;
            var source = fromCache && _behind is not null ? _behind : _objects;
            IReadOnlyList<T> found = [.. source
                .Where(o => o.Key.Kind == KindOf<T>() && (namespaces.Count == 0 || namespaces.Contains(o.Key.Namespace!)))
                .Select(o => KubernetesJson.Deserialize<T>(o.Value))
                .Where(o => labels.All(l => o.Metadata.Labels?.TryGetValue(l.Key, out var v) == true && v == l.Value))
                .Select(o => fromCache ? Cached(o) : o).OfType<T>()];
            return Task.FromResult(found);
        }
    }

    public Task<T> CreateAsync<T>(T desired, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        Supports<T>("create", Creatable);
        lock (_lock)
        {
            var obj = Copy(desired);
            if (obj is Corev1Event ev)
            {
                Write(new ObjectWrite("create", "Event", obj.Metadata.NamespaceProperty, ev.Reason), HttpMethod.Post);
                obj.Metadata.Name ??= obj.Metadata.GenerateName + Guid.NewGuid().ToString("N")[..5];
                Events.Add(ev);
            }
            else
            {
                Write(new ObjectWrite("create", KindOf<T>(), obj.Metadata.NamespaceProperty, obj.Metadata.Name), HttpMethod.Post);
            }

            CheckNamespace<T>(obj.Metadata.NamespaceProperty, obj.Metadata.Name);
            CheckSize(obj, HttpMethod.Post);
            if (_objects.ContainsKey(Key<T>(obj.Metadata.NamespaceProperty, obj.Metadata.Name)))
                throw Answer(HttpStatusCode.Conflict, HttpMethod.Post, KindOf<T>(), obj.Metadata.NamespaceProperty, obj.Metadata.Name, "AlreadyExists", $"{Resource<T>()} \"{obj.Metadata.Name}\" already exists");
            obj.Metadata.Uid = Guid.NewGuid().ToString();
            obj.Metadata.CreationTimestamp = Time.GetUtcNow().UtcDateTime;
            if (obj is V1Alpha1SigningKeySet set)
                set.Metadata.Generation = 1;
            obj.Metadata.DeletionTimestamp = null;
            Store(obj);
            ReadYourWrite(obj);
            return Task.FromResult(Copy(obj));
        }
    }

    public Task<T> ReplaceAsync<T>(T desired, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        Supports<T>("replace", Replaceable);
        return Task.FromResult(Replace(desired, status: false));
    }

    public Task<T> ReplaceStatusAsync<T>(T desired, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        Supports<T>("replace the status of", [typeof(V1Alpha1SigningKeySet)]);
        return Task.FromResult(Replace(desired, status: true));
    }

    public Task DeleteAsync<T>(string ns, string name, string uid, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        Supports<T>("delete", [typeof(V1ConfigMap), typeof(V1Secret)]);
        lock (_lock)
        {
            Write(new ObjectWrite("delete", KindOf<T>(), ns, name), HttpMethod.Delete);
            var current = Stored<T>(ns, name) ?? throw NotFound<T>(HttpMethod.Delete, ns, name);
            if (current.Metadata.Uid != uid)
                throw Answer(HttpStatusCode.Conflict, HttpMethod.Delete, KindOf<T>(), ns, name, "Conflict", $"Precondition failed: UID in precondition: {uid}, UID in object meta: {current.Metadata.Uid}");
            MarkDeleted(current);
            return Task.CompletedTask;
        }
    }

    private T Replace<T>(T desired, bool status)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        lock (_lock)
        {
            var (ns, name) = (desired.Metadata.NamespaceProperty, desired.Metadata.Name);
            Write(new ObjectWrite(status ? "replace-status" : "replace", KindOf<T>(), ns, name), HttpMethod.Put);
            var current = Stored<T>(ns, name) ?? throw NotFound<T>(HttpMethod.Put, ns, name);
            CheckResourceVersion(current, desired);
            CheckSize(desired, HttpMethod.Put);
            T written;
            if (status && desired is V1Alpha1SigningKeySet { Status.Conditions: { } conditions } && conditions.Select((c, i) => (c, i)).FirstOrDefault(c => c.c.Message?.Length > MaxConditionMessage) is { c: not null } tooLong)
            {
                // The CRD's schema (maxLength of a condition's message), as the API server enforces it.
                throw Answer(HttpStatusCode.UnprocessableEntity, HttpMethod.Put, KindOf<T>(), ns, name, "Invalid",
                    $"SigningKeySet.keyrotator.io \"{name}\" is invalid: status.conditions[{tooLong.i}].message: Too long: must have at most {MaxConditionMessage} bytes");
            }

            if (current is V1Alpha1SigningKeySet currentSet && desired is V1Alpha1SigningKeySet desiredSet)
            {
                var set = status ? currentSet : Copy(desiredSet);
                if (status)
                    set.Status = Copy(desiredSet).Status;
                else
                {
                    set.Status = currentSet.Status;
                    set.Metadata.Uid = currentSet.Metadata.Uid;
                    set.Metadata.CreationTimestamp = currentSet.Metadata.CreationTimestamp;
                    set.Metadata.DeletionTimestamp = currentSet.Metadata.DeletionTimestamp;
                    set.Metadata.Generation = KubernetesJson.Serialize(set.Spec) == KubernetesJson.Serialize(currentSet.Spec) ? currentSet.Metadata.Generation : currentSet.Metadata.Generation + 1;
                }

                written = (T)(object)set;
            }
            else
            {
                written = Copy(desired);
                written.Metadata.Uid = current.Metadata.Uid;
                written.Metadata.CreationTimestamp = current.Metadata.CreationTimestamp;
                written.Metadata.DeletionTimestamp = current.Metadata.DeletionTimestamp;
            }

            if (written.Metadata.DeletionTimestamp is not null && written.Metadata.Finalizers is not { Count: > 0 })
            {
                // The last finalizer is gone: the API server deletes the object and answers with it.
                _objects.Remove(Key<T>(ns, name));
                _behind?.Remove(Key<T>(ns, name));
                written.Metadata.ResourceVersion = Next();
                return Copy(written);
            }

            Store(written);
            ReadYourWrite(written);
            return Copy(written);
        }
    }

    private void Store<T>(T obj)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        obj.Metadata.ResourceVersion = Next();
        _objects[Key<T>(obj.Metadata.NamespaceProperty, obj.Metadata.Name)] = KubernetesJson.Serialize(obj);
    }

    private string Next() => Interlocked.Increment(ref _resourceVersion).ToString(CultureInfo.InvariantCulture);

    private static T Copy<T>(T obj) => KubernetesJson.Deserialize<T>(KubernetesJson.Serialize(obj));
}
