namespace KeyRotator.Core.Lifecycle;

/// <summary>The key states (docs/architecture.md), as they appear in status.keys[].state.</summary>
public static class KeyState
{
    /// <summary>In the JWKS, not signing yet.</summary>
    public const string Pending = "Pending";

    /// <summary>Signing, in the JWKS.</summary>
    public const string Active = "Active";

    /// <summary>In the JWKS, no longer signing; leaves at retiresAt.</summary>
    public const string Retiring = "Retiring";

    /// <summary>Out of the JWKS, disabled in the vault.</summary>
    public const string Retired = "Retired";

    /// <summary>Out of the JWKS at once, disabled at once, never signs again.</summary>
    public const string Revoked = "Revoked";

    public static bool IsPublished(string state) => state is Pending or Active or Retiring;
}
