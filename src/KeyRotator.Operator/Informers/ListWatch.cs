using k8s;
using k8s.Models;

namespace KeyRotator.Operator.Informers;

/// <summary>How an informer lists and watches one kind of object in one scope (a namespace or the cluster).</summary>
public sealed record ListWatch<T>(
    string Description,
    Func<CancellationToken, Task<(IList<T> Items, string ResourceVersion)>> List,
    Func<string, int, Action<Exception>, CancellationToken, IAsyncEnumerable<(WatchEventType Type, T Object)>> Watch)
    where T : IKubernetesObject<V1ObjectMeta>;
