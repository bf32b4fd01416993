using KeyRotator.Operator.Runtime;
using Quartz;

namespace KeyRotator.Operator.Scheduling;

/// <summary>
/// One Quartz trigger per set, at the planner's next wake time (pre-publish, activation or retirement),
/// misfire = fire now. State lives in the set's status, so a restarted operator reschedules everything
/// from its first reconcile and never rotates early or twice.
/// </summary>
public sealed class RotationScheduler(ISchedulerFactory factory)
{
    private const string Group = "signingkeysets";
    private IScheduler? _scheduler;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _scheduler = await factory.GetScheduler(cancellationToken);
        await _scheduler.Start(cancellationToken);
    }

    public async Task StopAsync()
    {
        if (_scheduler is { } scheduler)
        {
            _scheduler = null;
            await scheduler.Clear(CancellationToken.None);
            await scheduler.Standby(CancellationToken.None);
        }
    }

    public async Task ScheduleWakeAsync(SetKey key, DateTimeOffset at, CancellationToken cancellationToken)
    {
        if (_scheduler is not { } scheduler)
            return;
        var identity = key.ToString();
        var existing = await scheduler.GetTrigger(new TriggerKey(identity, Group), cancellationToken);
        if (existing?.StartTimeUtc == at)
            return;

        var job = JobBuilder.Create<WakeSigningKeySetJob>()
            .WithIdentity(identity, Group)
            .UsingJobData(WakeSigningKeySetJob.NamespaceKey, key.Namespace)
            .UsingJobData(WakeSigningKeySetJob.NameKey, key.Name)
            .Build();
        var trigger = TriggerBuilder.Create()
            .WithIdentity(identity, Group)
            .StartAt(at)
            .WithSimpleSchedule(s => s.WithMisfireInstruction(SimpleTriggerMisfireInstruction.FireNow))
            .Build();
        await scheduler.ScheduleJob(job, [trigger], new ScheduleJobOptions { Replace = true }, cancellationToken);
    }

    public async Task UnscheduleAsync(SetKey key, CancellationToken cancellationToken)
    {
        if (_scheduler is { } scheduler)
            await scheduler.UnscheduleJob(new TriggerKey(key.ToString(), Group), cancellationToken);
    }

    /// <summary>When the set's trigger fires next, for tests and diagnostics.</summary>
    public async Task<DateTimeOffset?> NextWakeAsync(SetKey key, CancellationToken cancellationToken) =>
        _scheduler is { } scheduler ? (await scheduler.GetTrigger(new TriggerKey(key.ToString(), Group), cancellationToken))?.NextFireTimeUtc : null;
}
