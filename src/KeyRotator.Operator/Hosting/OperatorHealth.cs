using KeyRotator.Operator.Configuration;
using KeyRotator.Operator.Controllers;
using KeyRotator.Operator.Kubernetes;
using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.Hosting;

/// <summary>
/// Liveness: nothing has faulted. Readiness: every informer holds a live watch, whether this replica
/// leads or stands by, and, where replicas compete for the Lease (a request every RetryPeriod), the API
/// server has answered within the lease duration: a hang is reported by nothing else.
/// </summary>
public sealed class OperatorHealth(SigningKeySetController controller, ApiAnswerClock answers, TimeProvider time, IOptions<OperatorOptions> options)
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
        var election = options.Value.LeaderElection;
        if (election.Enabled && answers.LastAnswer is { } last && time.GetUtcNow() - last is var silence && silence > election.LeaseDuration)
            return (false, $"the API server has not answered for {silence.TotalSeconds:0} s (not even the Lease requests sent every {election.RetryPeriod.TotalSeconds:0.#} s)");
        var unhealthy = controller.UnhealthyInformers;
        if (unhealthy.Count > 0)
            return (false, "watches not established: " + string.Join(", ", unhealthy));
        return (true, IsLeader ? "ok: leader" : "ok: standby");
    }
}
