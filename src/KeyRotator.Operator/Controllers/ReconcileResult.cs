namespace KeyRotator.Operator.Controllers;

/// <summary>What a reconcile asks of the queue: nothing, a wake-up at a time, or a retry with backoff.</summary>
public sealed record ReconcileResult(DateTimeOffset? WakeAt = null, bool Retry = false)
{
    public static ReconcileResult Done { get; } = new();

    public static ReconcileResult RetryWithBackoff { get; } = new(Retry: true);

    public static ReconcileResult At(DateTimeOffset? time) => new(time);
}
