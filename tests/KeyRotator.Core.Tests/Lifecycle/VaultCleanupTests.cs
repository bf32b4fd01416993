using KeyRotator.Core.Keys;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Resources;

namespace KeyRotator.Core.Tests.Lifecycle;

public sealed class VaultCleanupTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Retired_and_revoked_keys_still_enabled_are_disabled_and_keys_in_use_are_left_alone()
    {
        var (active, pending, retiring, retired, revoked, disabled) = (Key(6), Key(7), Key(5), Key(4), Key(3), Key(2) with { Enabled = false });
        var status = Status((active, KeyState.Active), (pending, KeyState.Pending), (retiring, KeyState.Retiring), (retired, KeyState.Retired), (revoked, KeyState.Revoked), (disabled, KeyState.Retired));

        var cleanup = VaultCleanup.Decide([active, pending, retiring, retired, revoked, disabled], status, deletePruned: true);

        Assert.Equal([retired.Kid, revoked.Kid], cleanup.Disable);
        Assert.Empty(cleanup.Delete);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Keys_pruned_from_the_history_are_deleted_or_disabled_by_policy(bool deletePruned)
    {
        var (pruned, active) = (Key(1), Key(5));
        var status = Status((active, KeyState.Active));

        var cleanup = VaultCleanup.Decide([pruned, active], status, deletePruned);

        Assert.Equal(deletePruned ? [pruned.Kid] : [], cleanup.Delete);
        Assert.Equal(deletePruned ? [] : [pruned.Kid], cleanup.Disable);
        Assert.True(VaultCleanup.Decide([pruned with { Enabled = false }, active], status, deletePruned: false).IsEmpty);
    }

    [Fact]
    public void A_key_newer_than_status_knows_is_being_made_and_is_left_alone()
    {
        var (active, fresh) = (Key(5), Key(6));

        Assert.True(VaultCleanup.Decide([active, fresh], Status((active, KeyState.Active)), deletePruned: true).IsEmpty);
    }

    private static StoredKey Key(long generation) =>
        new(PrivateSigningKey.Generate(JwsAlgorithm.ES256, 2048).PublicJwk, generation, Now, $"secret:key-{generation}");

    private static SigningKeySetStatus Status(params (StoredKey Key, string State)[] keys) => new()
    {
        Keys = [.. keys.Select(k => new KeyStatus { Kid = k.Key.Kid, Generation = k.Key.Generation, State = k.State })],
    };
}
