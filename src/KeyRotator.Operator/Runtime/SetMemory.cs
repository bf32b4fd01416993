namespace KeyRotator.Operator.Runtime;

/// <summary>
/// A singleton that keeps something per set (a cache of the operator's own writes, what was last read
/// from a key store, keys being generated, reported failures and heartbeats, metric series): it forgets
/// it when <see cref="SetMemory"/> says the set is gone.
/// </summary>
public interface IRemembersSets
{
    /// <param name="set">The set's namespaced name.</param>
    /// <param name="uid">The set's UID when known (a deleted set, a watch's Deleted event); null when only the name is.</param>
    void Forget(SetKey set, string? uid);
}

/// <summary>
/// Every holder of per-set memory, forgotten in one call: when a reconcile finds the set gone, when a
/// finalizer has cleaned it up, and on the watch's Deleted event (which names the UID that went).
/// </summary>
public sealed class SetMemory(IEnumerable<IRemembersSets> holders)
{
    private readonly IRemembersSets[] _holders = [.. holders];

    public void Forget(SetKey set, string? uid)
    {
        foreach (var holder in _holders)
            holder.Forget(set, uid);
    }
}
