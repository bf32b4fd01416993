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
/// moving with its spec, and a set with a deletionTimestamp gone once its last finalizer is removed.
/// The cache view (<see cref="Peek{T}"/>) is the informers': ConfigMaps and Secrets only when labelled
/// as the operator's, Secrets without data (SecretData's digest instead). Objects are copied in and out,
/// as over the wire. <see cref="Refuse"/> makes chosen requests fail with the status a test picks.
/// </summary>
public sealed class InMemoryObjectClient : IObjectClient
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

    /// <summary>Changes a stored object as someone else would (not one of the operator's writes): the resourceVersion moves.</summary>
    public T Change<T>(string? ns, string name, Action<T> change)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        lock (_lock)
        {
            var obj = Stored<T>(ns, name) ?? throw new KeyNotFoundException($"{KindOf<T>()} {ns}/{name}");
            change(obj);
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

    /// <summary>
    /// Makes requests <paramref name="when"/> answers for fail with that status (verbs: get, list, create,
    /// replace, replace-status, delete), the answer's message being <paramref name="message"/> when given.
    /// </summary>
    public void Refuse(Func<ObjectWrite, HttpStatusCode?> when, string? message = null)
    {
        lock (_lock)
            _refusals.Add((when, message));
    }

    /// <summary>Lets every request through again.</summary>
    public void StopRefusing()
    {
        lock (_lock)
            _refusals.Clear();
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
        lock (_lock)
        {
            Check(new ObjectWrite("get", KindOf<T>(), ns, name), HttpMethod.Get);
            return Task.FromResult(Stored<T>(ns, name));
        }
    }

    public (bool Known, T? Item) Peek<T>(string? ns, string name)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        if (typeof(T) != typeof(V1Alpha1SigningKeySet) && typeof(T) != typeof(V1ConfigMap) && typeof(T) != typeof(V1Secret))
            return (false, null);
        var stored = Stored<T>(ns, name);
        return (true, stored is null ? null : Cached(stored));
    }

    public Task<IReadOnlyList<T>> ListAsync<T>(IReadOnlyCollection<string> namespaces, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        lock (_lock)
        {
            Check(new ObjectWrite("list", KindOf<T>(), null, string.Join(',', labels.Select(l => $"{l.Key}={l.Value}"))), HttpMethod.Get);
            IReadOnlyList<T> found = [.. _objects
                .Where(o => o.Key.Kind == KindOf<T>() && (namespaces.Count == 0 || namespaces.Contains(o.Key.Namespace!)))
                .Select(o => KubernetesJson.Deserialize<T>(o.Value))
                .Where(o => labels.All(l => o.Metadata.Labels?.TryGetValue(l.Key, out var v) == true && v == l.Value))
                .Select(Cached).OfType<T>()];
            return Task.FromResult(found);
        }
    }

    public Task<T> CreateAsync<T>(T desired, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
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

            if (_objects.ContainsKey(Key<T>(obj.Metadata.NamespaceProperty, obj.Metadata.Name)))
                throw Answer(HttpStatusCode.Conflict, HttpMethod.Post, KindOf<T>(), obj.Metadata.NamespaceProperty, obj.Metadata.Name, "AlreadyExists", $"{KindOf<T>()} \"{obj.Metadata.Name}\" already exists");
            obj.Metadata.Uid = Guid.NewGuid().ToString();
            obj.Metadata.CreationTimestamp = Time.GetUtcNow().UtcDateTime;
            if (obj is V1Alpha1SigningKeySet set)
                set.Metadata.Generation = 1;
            Store(obj);
            return Task.FromResult(Copy(obj));
        }
    }

    public Task<T> ReplaceAsync<T>(T desired, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta> => Task.FromResult(Replace(desired, status: false));

    public Task<T> ReplaceStatusAsync<T>(T desired, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta> => Task.FromResult(Replace(desired, status: true));

    public Task DeleteAsync<T>(string ns, string name, string uid, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        lock (_lock)
        {
            Write(new ObjectWrite("delete", KindOf<T>(), ns, name), HttpMethod.Delete);
            var current = Stored<T>(ns, name) ?? throw Answer(HttpStatusCode.NotFound, HttpMethod.Delete, KindOf<T>(), ns, name, "NotFound", $"{KindOf<T>()} \"{name}\" not found");
            if (current.Metadata.Uid != uid)
                throw Answer(HttpStatusCode.Conflict, HttpMethod.Delete, KindOf<T>(), ns, name, "Conflict", $"Precondition failed: UID in precondition: {uid}, UID in object meta: {current.Metadata.Uid}");
            _objects.Remove(Key<T>(ns, name));
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
            var current = Stored<T>(ns, name) ?? throw Answer(HttpStatusCode.NotFound, HttpMethod.Put, KindOf<T>(), ns, name, "NotFound", $"{KindOf<T>()} \"{name}\" not found");
            if (current.Metadata.ResourceVersion != desired.Metadata.ResourceVersion)
                throw Answer(HttpStatusCode.Conflict, HttpMethod.Put, KindOf<T>(), ns, name, "Conflict", $"Operation cannot be fulfilled on {KindOf<T>()} \"{name}\": the object has been modified; please apply your changes to the latest version and try again");
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
                if (set.Metadata.DeletionTimestamp is not null && set.Metadata.Finalizers is not { Count: > 0 })
                {
                    // The last finalizer is gone: the API server deletes the set and answers with it.
                    _objects.Remove(Key<T>(ns, name));
                    set.Metadata.ResourceVersion = Next();
                    return Copy(written);
                }
            }
            else
            {
                written = Copy(desired);
                written.Metadata.Uid = current.Metadata.Uid;
                written.Metadata.CreationTimestamp = current.Metadata.CreationTimestamp;
            }

            Store(written);
            return Copy(written);
        }
    }

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

    private void Write(ObjectWrite write, HttpMethod method)
    {
        Check(write, method);
        Writes.Add(write);
    }

    private void Check(ObjectWrite request, HttpMethod method)
    {
        if (_refusals.Select(r => (Status: r.When(request), r.Message)).FirstOrDefault(r => r.Status is not null) is { Status: { } refused } refusal)
            throw Answer(refused, method, request.Kind, request.Namespace, request.Name, refused.ToString(), refusal.Message ?? $"refused by the test ({request})");
    }

    private void Store<T>(T obj)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        obj.Metadata.ResourceVersion = Next();
        _objects[Key<T>(obj.Metadata.NamespaceProperty, obj.Metadata.Name)] = KubernetesJson.Serialize(obj);
    }

    private string Next() => Interlocked.Increment(ref _resourceVersion).ToString(CultureInfo.InvariantCulture);

    private static (string, string?, string) Key<T>(string? ns, string name) => (KindOf<T>(), typeof(T) == typeof(V1Namespace) || typeof(T) == typeof(V1Alpha1ClusterKeyVault) || typeof(T) == typeof(V1Alpha1ClusterPublishTarget) ? null : ns, name);

    /// <summary>The kind as kubectl names it (ConfigMap, Secret, SigningKeySet, …).</summary>
    public static string KindOf<T>() => typeof(T).Name switch
    {
        "Corev1Event" => "Event",
        var name when name.StartsWith("V1Alpha1", StringComparison.Ordinal) => name["V1Alpha1".Length..],
        var name when name.StartsWith("V1", StringComparison.Ordinal) => name["V1".Length..],
        var name => name,
    };

    /// <summary>The exception the Kubernetes client raises for the API server's answer, with a Status body.</summary>
    public static HttpOperationException Answer(HttpStatusCode status, HttpMethod method, string kind, string? ns, string name, string reason, string message)
    {
        var group = kind is "SigningKeySet" or "ClusterKeyVault" or "ClusterPublishTarget" ? $"/apis/{V1Alpha1SigningKeySet.GroupVersion}" : "/api/v1";
        var path = ns is null ? $"{group}/{kind.ToLowerInvariant()}s/{name}" : $"{group}/namespaces/{ns}/{kind.ToLowerInvariant()}s/{name}";
        var body = System.Text.Json.JsonSerializer.Serialize(new { kind = "Status", apiVersion = "v1", status = "Failure", message, reason, code = (int)status });
        return new HttpOperationException($"Operation returned an invalid status code '{status}'")
        {
            Request = new HttpRequestMessageWrapper(new HttpRequestMessage(method, "https://in-memory" + path), ""),
            Response = new HttpResponseMessageWrapper(new HttpResponseMessage(status) { ReasonPhrase = ReasonPhrase(status) }, body),
        };
    }

    private static string ReasonPhrase(HttpStatusCode status) => status switch
    {
        HttpStatusCode.Conflict => "Conflict",
        HttpStatusCode.NotFound => "Not Found",
        HttpStatusCode.Forbidden => "Forbidden",
        HttpStatusCode.ServiceUnavailable => "Service Unavailable",
        HttpStatusCode.UnprocessableEntity => "Unprocessable Entity",
        HttpStatusCode.InternalServerError => "Internal Server Error",
        _ => status.ToString(),
    };

    private static T Copy<T>(T obj) => KubernetesJson.Deserialize<T>(KubernetesJson.Serialize(obj));
}
