using KeyRotator.Operator.Runtime;
using Quartz;

namespace KeyRotator.Operator.Scheduling;

/// <summary>The one thing a Quartz trigger does: put its set on the work queue. The reconcile decides.</summary>
public sealed class WakeSigningKeySetJob(ISigningKeySets controller) : IJob
{
    public const string NamespaceKey = "namespace";
    public const string NameKey = "name";

    public ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        var data = context.MergedJobDataMap;
        controller.Enqueue(new SetKey(data.GetString(NamespaceKey)!, data.GetString(NameKey)!));
        return ValueTask.CompletedTask;
    }
}
