using KeyRotator.Operator.Runtime;

namespace KeyRotator.Operator.Scheduling;

/// <summary>
/// One set's wake: when it is due, and the timer counting down to it (null once it has fired, or when it
/// was due at once). Kept after firing so that the same due time, asked for again, does not wake twice.
/// </summary>
internal sealed class ScheduledWake(SetKey key, DateTimeOffset at)
{
    public SetKey Key { get; } = key;

    public DateTimeOffset At { get; } = at;

    public ITimer? Timer { get; set; }
}
