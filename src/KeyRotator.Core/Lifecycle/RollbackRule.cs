namespace KeyRotator.Core.Lifecycle;

/// <summary>
/// When reported failures are the rollback signal: a spike since the active key started signing, of
/// verifiers that do not know a kid, and that kid is the active key (verifiers were not ready for it).
/// </summary>
public static class RollbackRule
{
    public const string UnknownKid = "unknown_kid";

    /// <summary>The spike's description when it is the rollback signal for <paramref name="activeKid"/>, else null.</summary>
    public static string? SpikeOnActiveKey(bool spiking, string? reason, string? kid, string? activeKid, string description) =>
        spiking && reason == UnknownKid && activeKid is not null && kid == activeKid ? description : null;
}
