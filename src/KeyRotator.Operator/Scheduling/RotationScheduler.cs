using KeyRotator.Operator.Runtime;

namespace KeyRotator.Operator.Scheduling;

/// <summary>
/// One timer per set, at the planner's next wake time (pre-publish, activation or retirement), that puts
/// the set on the work queue; a wake time already past wakes the set at once. Each set wakes at most once
/// per due time: asking again for a time that has fired is a no-op, so a reconcile that returns the same
/// past time cannot spin. State lives in the set's status, so a restarted operator (or a new leader)
/// reschedules everything from its first reconcile and never rotates early or twice.
/// </summary>
/// <remarks>
/// Timers come from the injected <see cref="TimeProvider"/> (tests drive it with a fake clock) rather
/// than a scheduler library, which keeps the operator free of reflection over job types (Native AOT,
/// issue #34). A timer cannot count down more than about 49.7 days, so a longer wait is walked in steps,
/// each step checking the clock again and waking only when the due time has come.
/// </remarks>
public sealed class RotationScheduler(TimeProvider time) : IRemembersSets
{
    /// <summary>The longest a <see cref="System.Threading.Timer"/> counts down (0xFFFFFFFE ms).</summary>
    internal static readonly TimeSpan MaxTimerDelay = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    private readonly Lock _gate = new();
    private readonly Dictionary<SetKey, ScheduledWake> _wakes = [];
    private Action<SetKey>? _wake;

    /// <summary>Starts waking sets through <paramref name="wake"/> (the controller's enqueue), while leading.</summary>
    public void Start(Action<SetKey> wake)
    {
        ArgumentNullException.ThrowIfNull(wake);
        lock (_gate)
            _wake = wake;
    }

    /// <summary>Drops every wake: the next leader schedules them again from its first reconciles.</summary>
    public void Stop()
    {
        lock (_gate)
        {
            _wake = null;
            foreach (var wake in _wakes.Values)
                wake.Timer?.Dispose();
            _wakes.Clear();
        }
    }

    /// <summary>Wakes the set at <paramref name="at"/>, replacing its earlier wake; ignored when not started.</summary>
    public void ScheduleWake(SetKey key, DateTimeOffset at)
    {
        Action<SetKey>? wakeNow;
        lock (_gate)
        {
            if (_wake is null)
                return;
            if (_wakes.TryGetValue(key, out var existing))
            {
                if (existing.At == at)
                    return;
                existing.Timer?.Dispose();
            }

            var wake = new ScheduledWake(key, at);
            _wakes[key] = wake;
            var delay = at - time.GetUtcNow();
            if (delay > TimeSpan.Zero)
            {
                wake.Timer = CreateTimer(wake, delay);
                return;
            }

            wakeNow = _wake;
        }

        wakeNow(key);
    }

    /// <summary>The set needs no wake (nothing is due, or it is gone).</summary>
    public void Unschedule(SetKey key)
    {
        lock (_gate)
        {
            if (_wakes.Remove(key, out var wake))
                wake.Timer?.Dispose();
        }
    }

    /// <summary>When the set is woken next, if it is still to come: for tests and diagnostics.</summary>
    public DateTimeOffset? NextWake(SetKey key)
    {
        lock (_gate)
            return _wakes.TryGetValue(key, out var wake) && wake.Timer is not null ? wake.At : null;
    }

    /// <summary>How many sets wait for a wake.</summary>
    public int Pending
    {
        get
        {
            lock (_gate)
                return _wakes.Values.Count(w => w.Timer is not null);
        }
    }

    void IRemembersSets.Forget(SetKey set, string? uid) => Unschedule(set);

    private ITimer CreateTimer(ScheduledWake wake, TimeSpan delay)
    {
        // A timer keeps the execution context it was created in alive until it fires; this one is created
        // inside a reconcile and may wait for months, so it carries none.
        if (ExecutionContext.IsFlowSuppressed())
            return time.CreateTimer(Fire, wake, Clamp(delay), Timeout.InfiniteTimeSpan);
        using (ExecutionContext.SuppressFlow())
            return time.CreateTimer(Fire, wake, Clamp(delay), Timeout.InfiniteTimeSpan);
    }

    private void Fire(object? state)
    {
        var fired = (ScheduledWake)state!;
        Action<SetKey>? wake;
        lock (_gate)
        {
            // A timer that was replaced or dropped while its callback was already on its way.
            if (_wake is null || !_wakes.TryGetValue(fired.Key, out var current) || !ReferenceEquals(current, fired) || fired.Timer is null)
                return;
            var remaining = fired.At - time.GetUtcNow();
            if (remaining > TimeSpan.Zero)
            {
                // A long wait walked in steps (or a clock set back): not due yet, count down the rest.
                fired.Timer.Change(Clamp(remaining), Timeout.InfiniteTimeSpan);
                return;
            }

            fired.Timer.Dispose();
            fired.Timer = null;
            wake = _wake;
        }

        wake(fired.Key);
    }

    private static TimeSpan Clamp(TimeSpan delay) => delay < MaxTimerDelay ? delay : MaxTimerDelay;
}
