using k8s;
using k8s.Models;

namespace KeyRotator.Operator.Runtime;

/// <summary>
/// The one seam between the operator and the API server for the objects a reconcile reads and writes
/// (SigningKeySets, ConfigMaps, Secrets, Namespaces, ClusterKeyVaults, Events), as controller-runtime's
/// client.Reader/Writer with the cache behind it. Reads come from the informers when they can answer,
/// with the operator's own writes on top (read-your-writes is kept here, not at call sites); every write
/// goes through it. Failures are the API server's answers as the Kubernetes client raises them
/// (<see cref="k8s.Autorest.HttpOperationException"/> with its status: 404, 409, 403, 422, …), so callers
/// handle one kind of refusal whichever implementation answers.
/// The in-memory implementation (tests/KeyRotator.Testing/InMemoryObjectClient) answers the same way
/// and records the writes in order, for the reconciler tests "given this world, expect these writes".
/// </summary>
public interface IObjectClient
{
    /// <summary>
    /// The object as the informer (or this operator's last write) has it, else from the API server; null
    /// when it does not exist. A Secret from the cache carries no data, only its digest (SecretData).
    /// </summary>
    Task<T?> GetAsync<T>(string? ns, string name, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>;

    /// <summary>The object as the API server has it now (Secret data; the truth before a withdrawal); null when it does not exist.</summary>
    Task<T?> ReadAsync<T>(string? ns, string name, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>;

    /// <summary>What the cache says, without a request: Known is false when it cannot say (not listed yet, namespace not watched, kind not cached).</summary>
    (bool Known, T? Item) Peek<T>(string? ns, string name)
        where T : class, IKubernetesObject<V1ObjectMeta>;

    /// <summary>
    /// The objects carrying every label of <paramref name="labels"/> in <paramref name="namespaces"/> (empty:
    /// every namespace, or a cluster-scoped kind), from the cache when it holds them, else from the API server.
    /// </summary>
    Task<IReadOnlyList<T>> ListAsync<T>(IReadOnlyCollection<string> namespaces, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>;

    /// <summary>Creates; the API server answers 409 when the name is taken.</summary>
    Task<T> CreateAsync<T>(T desired, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>;

    /// <summary>Replaces at the object's resourceVersion (409 when it moved on).</summary>
    Task<T> ReplaceAsync<T>(T desired, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>;

    /// <summary>Replaces the status subresource at the object's resourceVersion.</summary>
    Task<T> ReplaceStatusAsync<T>(T desired, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>;

    /// <summary>Deletes with a UID precondition, so an object that replaced the one read is never deleted (409 then; 404 when gone).</summary>
    Task DeleteAsync<T>(string ns, string name, string uid, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>;
}
