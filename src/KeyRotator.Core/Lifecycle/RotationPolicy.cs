using KeyRotator.Model.Jose;
using Quartz;

namespace KeyRotator.Core.Lifecycle;

/// <summary>A validated SigningKeySet spec: every duration parsed, every rule checked.</summary>
public sealed record RotationPolicy
{
    public required JwsAlgorithm Algorithm { get; init; }

    /// <summary>Bits for RSA keys; 0 for EC.</summary>
    public int RsaKeySize { get; init; }

    public TimeSpan? Interval { get; init; }

    public CronExpression? Cron { get; init; }

    public required TimeSpan PrePublish { get; init; }

    public required TimeSpan Overlap { get; init; }

    public TimeSpan Jitter { get; init; }

    public required TimeSpan MaxTokenLifetime { get; init; }

    public required TimeSpan ClockSkew { get; init; }

    public IReadOnlySet<string> RevokedKeyIds { get; init; } = new HashSet<string>();

    public bool DeleteKeysOnRemoval { get; init; }

    public int RetiredKeyHistory { get; init; } = 5;

    /// <summary>A pending key also waits for the verifiers heard to hold it (spec.rotation.activation: Confirmed).</summary>
    public bool ConfirmedActivation { get; init; }

    /// <summary>How long past its due time a key may wait for verifiers; also how long a retiring key may wait for signers.</summary>
    public TimeSpan MaxActivationDelay { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>At <see cref="MaxActivationDelay"/>: activate anyway (true) or keep waiting (false).</summary>
    public bool ActivateOnTimeout { get; init; } = true;

    /// <summary>
    /// When the key that activated at <paramref name="lastActivation"/> is due to be replaced, including the
    /// set's deterministic jitter <paramref name="jitterOffset"/>.
    /// </summary>
    public DateTimeOffset NextDue(DateTimeOffset lastActivation, TimeSpan jitterOffset)
    {
        if (Interval is { } interval)
            return lastActivation + interval + jitterOffset;
        var next = Cron!.GetNextValidTimeAfter(lastActivation)
            ?? throw new InvalidOperationException($"the cron expression '{Cron.CronExpressionString}' never fires again");
        return next + jitterOffset;
    }

    /// <summary>The set's own delay within [0, jitter), stable across restarts (a hash of the set's UID).</summary>
    public TimeSpan JitterFor(string uid)
    {
        if (Jitter <= TimeSpan.Zero || string.IsNullOrEmpty(uid))
            return TimeSpan.Zero;
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(uid));
        var fraction = BitConverter.ToUInt32(hash, 0) / (double)uint.MaxValue;
        return TimeSpan.FromSeconds(Math.Floor(Jitter.TotalSeconds * fraction));
    }
}
