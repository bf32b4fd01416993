namespace KeyRotator.Model.Resources;

/// <summary>When keys rotate. Exactly one of <see cref="Interval"/> and <see cref="Cron"/> is set.</summary>
public sealed record RotationSpec
{
    /// <summary>Time between rotations (Go duration, e.g. 720h).</summary>
    public string? Interval { get; init; }

    /// <summary>A Quartz cron expression (seconds first, e.g. "0 0 3 ? * MON").</summary>
    public string? Cron { get; init; }

    /// <summary>IANA time zone the cron expression is evaluated in.</summary>
    public string? TimeZone { get; init; }

    /// <summary>How long a new key is published before it signs (Go duration).</summary>
    public string? PrePublish { get; init; }

    /// <summary>How long a key stays published after it stops signing (Go duration).</summary>
    public string? Overlap { get; init; }

    /// <summary>Upper bound of the deterministic per-set delay that spreads rotations of many sets.</summary>
    public string? Jitter { get; init; }

    /// <summary>
    /// Timed (default): a pending key signs when its time comes. Confirmed: it also waits until every
    /// verifier heard within the window holds it, at most <see cref="MaxActivationDelay"/>.
    /// </summary>
    public string? Activation { get; init; }

    /// <summary>With Confirmed: how long past its due time a key may wait for verifiers (Go duration; default 15m).</summary>
    public string? MaxActivationDelay { get; init; }

    /// <summary>With Confirmed, at the bound: Activate (default) or Wait for the stale verifiers.</summary>
    public string? OnTimeout { get; init; }
}
