using k8s.Models;
using KeyRotator.Model.Resources;

namespace KeyRotator.Operator.Runtime;

/// <summary>
/// What the rooms around the controller need of it (the HTTP endpoints, the scheduler): the sets and
/// JWKS ConfigMaps as its informers hold them, and a way to ask for a reconcile. No API call.
/// </summary>
public interface ISigningKeySets
{
    /// <summary>Whether every informer has listed once (its cache can be trusted to answer "not there").</summary>
    bool CachesSynced { get; }

    /// <summary>A set as the informer holds it.</summary>
    V1Alpha1SigningKeySet? CachedSet(string ns, string name);

    /// <summary>A managed ConfigMap as the informer holds it.</summary>
    V1ConfigMap? CachedConfigMap(string ns, string name);

    /// <summary>Asks for a reconcile of the set.</summary>
    void Enqueue(SetKey key);
}
