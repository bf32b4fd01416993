using Microsoft.Extensions.Time.Testing;

namespace KeyRotator.Reconciler.Tests;

/// <summary>
/// A <see cref="FakeTimeProvider"/> whose wall clock can be stepped back (an NTP correction, a VM
/// restored) and forward again towards the true time, while the timers only move forward. Durations
/// are measured on <see cref="Measured"/>: the true time plus every forward step. A forward step looks
/// to anyone like time passing, so what it makes due may happen; a backward step must never make
/// anything happen early, and the measure does not move back with it.
/// </summary>
internal sealed class WalkClock(DateTimeOffset start) : FakeTimeProvider(start)
{
    private readonly DateTimeOffset _start = start;

    /// <summary>How far the wall clock is behind the true time.</summary>
    public TimeSpan Behind { get; private set; }

    /// <summary>The true time (the base clock) elapsed since the walk began.</summary>
    public TimeSpan Elapsed => base.GetUtcNow() - _start;

    public void StepBack(TimeSpan by) => Behind += by;

    /// <summary>Steps the wall clock forward, at most to the true time.</summary>
    /// <summary>The true time elapsed plus the forward steps of the wall clock.</summary>
    public TimeSpan Measured => Elapsed + SteppedForward;

    private TimeSpan SteppedForward { get; set; }

    public void StepForward(TimeSpan by)
    {
        var step = by < Behind ? by : Behind;
        Behind -= step;
        SteppedForward += step;
    }

    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() - Behind;
}
