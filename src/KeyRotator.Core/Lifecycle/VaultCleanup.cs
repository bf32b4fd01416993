using KeyRotator.Model.Resources;

namespace KeyRotator.Core.Lifecycle;

/// <summary>
/// What the vault should no longer hold enabled, decided level-based from what it holds and what status
/// says (not from what changed in this reconcile, so a clean-up that failed is simply decided again):
/// Retired and Revoked keys are disabled; keys pruned from the status history are deleted when
/// <c>deletePruned</c> (the Delete policy, or a store that cannot keep an unbounded history), else disabled.
/// </summary>
public sealed record VaultCleanup(IReadOnlyList<string> Disable, IReadOnlyList<string> Delete)
{
    public static VaultCleanup None { get; } = new([], []);

    public bool IsEmpty => Disable.Count == 0 && Delete.Count == 0;

    /// <summary>
    /// Whether keys pruned from the history are deleted (else disabled): under the Delete policy, and always
    /// in the Kubernetes store, because one Secret cannot hold an unbounded history.
    /// </summary>
    public static bool DeletesPruned(bool deleteKeysOnRemoval, string? provider) =>
        deleteKeysOnRemoval || (provider ?? "Kubernetes") == "Kubernetes";

    public static VaultCleanup Decide(IReadOnlyList<StoredKey> stored, SigningKeySetStatus status, bool deletePruned)
    {
        var known = (status.Keys ?? []).ToDictionary(k => k.Kid, StringComparer.Ordinal);
        var newestGeneration = (status.Keys ?? []).Select(k => k.Generation).DefaultIfEmpty(0).Max();
        var disable = new List<string>();
        var delete = new List<string>();
        foreach (var key in stored)
        {
            if (known.TryGetValue(key.Kid, out var state))
            {
                if (key.Enabled && state.State is KeyState.Retired or KeyState.Revoked)
                    disable.Add(key.Kid);
            }
            else if (key.Generation < newestGeneration)
            {
                // Pruned from the history: it never signs again.
                if (deletePruned)
                    delete.Add(key.Kid);
                else if (key.Enabled)
                    disable.Add(key.Kid);
            }
        }

        return disable.Count == 0 && delete.Count == 0 ? None : new VaultCleanup(disable, delete);
    }
}
