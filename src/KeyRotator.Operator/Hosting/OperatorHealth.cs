using KeyRotator.Operator.Controllers;

namespace KeyRotator.Operator.Hosting;

/// <summary>
/// Liveness: nothing has faulted. Readiness: every informer holds a live watch, whether this replica
/// leads or stands by.
/// </summary>
public sealed class OperatorHealth(SigningKeySetController controller)
{
    private volatile string? _fault;

    public bool IsLeader { get; set; }

    public void Fault(string reason) => _fault = reason;

    public (bool Ok, string Detail) Live() => _fault is { } fault ? (false, fault) : (true, "ok");

    public (bool Ok, string Detail) Ready()
    {
        if (_fault is { } fault)
            return (false, fault);
        var unhealthy = controller.UnhealthyInformers;
        if (unhealthy.Count > 0)
            return (false, "watches not established: " + string.Join(", ", unhealthy));
        return (true, IsLeader ? "ok: leader" : "ok: standby");
    }
}
