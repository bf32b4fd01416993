namespace KeyRotator.Core.Lifecycle;

/// <summary>Why a key started signing; the "trigger" label of keyrotator_rotations_total.</summary>
public static class RotationTriggers
{
    /// <summary>The set's first key.</summary>
    public const string Initial = "initial";

    /// <summary>The interval or cron schedule came due.</summary>
    public const string Scheduled = "scheduled";

    /// <summary>Signing went back to the previous key after verifiers rejected the new one (unknown_kid spike).</summary>
    public const string Rollback = "rollback";

    /// <summary>keyrotator.io/rotate-now.</summary>
    public const string Manual = "manual";

    /// <summary>The active key was revoked: a forced rotation.</summary>
    public const string Revocation = "revocation";
}
