using KeyRotator.Model.Resources;

namespace KeyRotator.Core.Lifecycle;

/// <summary>Revocation and retirement: the two transitions that happen whatever else is wrong.</summary>
internal static class SafetyRules
{
    /// <summary>Marks every listed kid Revoked; returns true when the active key was one of them.</summary>
    public static bool Revoke(List<KeyStatus> keys, IReadOnlySet<string> revoked, DateTimeOffset now, List<PlanEvent> events)
    {
        var activeWasRevoked = false;
        for (var i = 0; i < keys.Count; i++)
        {
            var key = keys[i];
            if (key.State == KeyState.Revoked || !revoked.Contains(key.Kid))
                continue;
            activeWasRevoked |= key.State == KeyState.Active;
            keys[i] = key with { State = KeyState.Revoked, RevokedAt = now };
            events.Add(PlanEvent.Warning("KeyRevoked",
                $"Key {key.Kid} (generation {key.Generation}) was revoked through spec.revokedKeyIds: removed from the JWKS and disabled; it never signs again"));
        }

        return activeWasRevoked;
    }

    /// <summary>Marks every Retiring key whose overlap has ended Retired.</summary>
    public static void Retire(List<KeyStatus> keys, DateTimeOffset now, List<PlanEvent> events)
    {
        for (var i = 0; i < keys.Count; i++)
        {
            var key = keys[i];
            if (key.State != KeyState.Retiring || key.RetiresAt > now)
                continue;
            keys[i] = key with { State = KeyState.Retired, RetiredAt = now };
            events.Add(PlanEvent.Normal("KeyRetired", $"Key {key.Kid} (generation {key.Generation}) left the JWKS after its overlap window"));
        }
    }
}
