using KeyRotator.Core.Lifecycle;

namespace KeyRotator.Core.Tests.Lifecycle;

/// <summary>The in-memory vaults of the harness and the walk, carrying out a step's clean-up as a vault would.</summary>
internal static class InMemoryVault
{
    /// <summary>Deletes the keys the clean-up deletes and marks the ones it disables.</summary>
    public static void Apply(this List<StoredKey> vault, VaultCleanup cleanup)
    {
        vault.RemoveAll(k => cleanup.Delete.Contains(k.Kid));
        for (var i = 0; i < vault.Count; i++)
        {
            if (cleanup.Disable.Contains(vault[i].Kid))
                vault[i] = vault[i] with { Enabled = false };
        }
    }
}
