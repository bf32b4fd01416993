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

    /// <summary>Why this replica cannot compete for the Lease right now (the API server unreachable); null when it can.</summary>
    public string? ElectionProblem
    {
        get => _electionProblem;
        set => _electionProblem = value;
    }

    private volatile string? _electionProblem;

    public void Fault(string reason) => _fault = reason;

    public (bool Ok, string Detail) Live() => _fault is { } fault ? (false, fault) : (true, "ok");

    public (bool Ok, string Detail) Ready()
    {
        if (_fault is { } fault)
            return (false, fault);
        if (_electionProblem is { } problem)
            return (false, problem);
        var unhealthy = controller.UnhealthyInformers;
        if (unhealthy.Count > 0)
            return (false, "watches not established: " + string.Join(", ", unhealthy));
        return (true, IsLeader ? "ok: leader" : "ok: standby");
    }
}
