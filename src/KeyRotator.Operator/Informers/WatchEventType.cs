namespace KeyRotator.Operator.Informers;

/// <summary>
/// The "type" of a Kubernetes watch event (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR). Ours rather than
/// KubernetesClient's, which KubernetesClient.Aot does not have (<see cref="ApiWatch"/> reads the events).
/// </summary>
public enum WatchEventType
{
    Added,
    Modified,
    Deleted,
    Bookmark,
    Error,
}
