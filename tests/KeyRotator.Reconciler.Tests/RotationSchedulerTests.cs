using KeyRotator.Operator.Runtime;
using KeyRotator.Operator.Scheduling;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace KeyRotator.Reconciler.Tests;

/// <summary>
/// The rotation scheduler on a fake clock: each set is put on the work queue once, at the wake time its
/// last reconcile asked for, however far ahead that is, and never after it was rescheduled or deleted.
/// </summary>
public sealed class RotationSchedulerTests
{
    private static readonly SetKey Web = new("team-a", "web");
    private static readonly SetKey Api = new("team-b", "api");

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));
    private readonly List<(SetKey Key, DateTimeOffset At)> _woken = [];
    private readonly RotationScheduler _scheduler;

    public RotationSchedulerTests()
    {
        _scheduler = new RotationScheduler(_time);
        _scheduler.Start(key => _woken.Add((key, _time.GetUtcNow())));
    }

    /// <summary>Moves the fake clock in steps, so that each wake is recorded at the step it fell due in.</summary>
    private void Run(TimeSpan total, TimeSpan step)
    {
        for (var passed = TimeSpan.Zero; passed < total; passed += step)
            _time.Advance(step);
    }

    [Fact]
    public void A_set_is_woken_once_at_its_wake_time_and_not_before()
    {
        var due = _time.GetUtcNow().AddMinutes(10);
        _scheduler.ScheduleWake(Web, due);

        _time.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromMilliseconds(1));
        Assert.Empty(_woken);

        _time.Advance(TimeSpan.FromMilliseconds(1));
        Run(TimeSpan.FromHours(1), TimeSpan.FromMinutes(1));
        Assert.Equal([(Web, due)], _woken);
        Assert.Null(_scheduler.NextWake(Web));
    }

    [Fact]
    public void Each_set_is_woken_at_its_own_time()
    {
        var start = _time.GetUtcNow();
        _scheduler.ScheduleWake(Web, start.AddMinutes(30));
        _scheduler.ScheduleWake(Api, start.AddMinutes(5));

        Run(TimeSpan.FromHours(1), TimeSpan.FromMinutes(1));

        Assert.Equal([(Api, start.AddMinutes(5)), (Web, start.AddMinutes(30))], _woken);
    }

    [Fact]
    public void Rescheduling_replaces_the_earlier_wake_whether_sooner_or_later()
    {
        var start = _time.GetUtcNow();
        _scheduler.ScheduleWake(Web, start.AddMinutes(10));
        _scheduler.ScheduleWake(Web, start.AddMinutes(20));
        _scheduler.ScheduleWake(Api, start.AddMinutes(20));
        _scheduler.ScheduleWake(Api, start.AddMinutes(5));

        Run(TimeSpan.FromHours(1), TimeSpan.FromMinutes(1));

        Assert.Equal([(Api, start.AddMinutes(5)), (Web, start.AddMinutes(20))], _woken);
    }

    [Fact]
    public void A_wake_time_already_past_wakes_the_set_at_once_and_asking_for_it_again_does_not_wake_it_twice()
    {
        var overdue = _time.GetUtcNow().AddMinutes(-3);
        _scheduler.ScheduleWake(Web, overdue);
        Assert.Single(_woken);

        // The reconcile it caused answers with the same due time: no second wake, no spin.
        _scheduler.ScheduleWake(Web, overdue);
        _time.Advance(TimeSpan.FromHours(1));
        Assert.Single(_woken);
    }

    [Fact]
    public void A_due_time_that_has_fired_is_not_woken_again_but_the_next_one_is()
    {
        var first = _time.GetUtcNow().AddMinutes(10);
        _scheduler.ScheduleWake(Web, first);
        _time.Advance(TimeSpan.FromMinutes(10));
        _scheduler.ScheduleWake(Web, first);
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Single(_woken);

        var second = _time.GetUtcNow().AddMinutes(10);
        _scheduler.ScheduleWake(Web, second);
        _time.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal([(Web, first), (Web, second)], _woken);
    }

    [Fact]
    public void A_wake_200_days_ahead_beyond_the_longest_timer_fires_on_its_day_and_not_when_the_timer_first_runs_out()
    {
        var due = _time.GetUtcNow().AddDays(200);
        _scheduler.ScheduleWake(Web, due);

        Run(TimeSpan.FromDays(199), TimeSpan.FromDays(1));
        Assert.Empty(_woken);
        Assert.Equal(due, _scheduler.NextWake(Web));

        _time.Advance(TimeSpan.FromDays(1));
        Assert.Equal([(Web, due)], _woken);
    }

    [Fact]
    public void A_set_that_is_unscheduled_or_forgotten_when_deleted_is_not_woken()
    {
        var start = _time.GetUtcNow();
        _scheduler.ScheduleWake(Web, start.AddMinutes(10));
        _scheduler.ScheduleWake(Api, start.AddMinutes(10));

        _scheduler.Unschedule(Web);
        ((IRemembersSets)_scheduler).Forget(Api, "uid-of-api");
        _time.Advance(TimeSpan.FromHours(1));

        Assert.Empty(_woken);
        Assert.Equal(0, _scheduler.Pending);
    }

    [Fact]
    public void A_replica_that_stops_leading_wakes_nothing_and_schedules_nothing_until_it_leads_again()
    {
        var start = _time.GetUtcNow();
        _scheduler.ScheduleWake(Web, start.AddMinutes(10));
        _scheduler.Stop();
        _scheduler.ScheduleWake(Api, start.AddMinutes(10));
        _time.Advance(TimeSpan.FromHours(1));
        Assert.Empty(_woken);

        _scheduler.Start(key => _woken.Add((key, _time.GetUtcNow())));
        _scheduler.ScheduleWake(Web, _time.GetUtcNow().AddMinutes(10));
        _time.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal([Web], _woken.Select(w => w.Key));
    }

    [Fact]
    public void A_thousand_sets_are_each_woken_once_in_due_order()
    {
        var start = _time.GetUtcNow();
        var sets = Enumerable.Range(0, 1000).Select(i => (Key: new SetKey("ns", $"set-{i}"), At: start.AddSeconds(1000 - i))).ToList();
        foreach (var (key, at) in sets)
            _scheduler.ScheduleWake(key, at);

        Run(TimeSpan.FromSeconds(1000), TimeSpan.FromSeconds(1));

        Assert.Equal(sets.OrderBy(s => s.At).Select(s => s.Key), _woken.Select(w => w.Key));
        Assert.All(_woken, w => Assert.Equal(sets.Single(s => s.Key == w.Key).At, w.At));
    }
}
