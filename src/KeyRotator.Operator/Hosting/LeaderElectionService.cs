using k8s;
using KeyRotator.Operator.Configuration;
using KeyRotator.Operator.Controllers;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.Hosting;

/// <summary>
/// Runs the informers on every replica and the reconcile workers only on the Lease holder. Losing the
/// Lease stops every worker at once; the replica then competes again like any standby instead of exiting
/// (controller-runtime exits, which in a pod means a restart and, when the control plane is away for a
/// while, CrashLoopBackOff). No replica exits because the API server is unreachable or slow: it retries
/// with capped backoff and is not ready meanwhile. Everything a new term reads is checked against the
/// informers' resourceVersions, as after a restart, so no memory of an earlier term is trusted blindly.
/// </summary>
public sealed partial class LeaderElectionService(
    IKubernetes kubernetes,
    SigningKeySetController controller,
    OperatorHealth health,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    IOptions<OperatorOptions> options,
    ILogger<LeaderElectionService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var informers = controller.RunInformersAsync(stoppingToken);
        var election = options.Value.LeaderElection;
        try
        {
            if (!election.Enabled)
            {
                health.IsLeader = true;
                await controller.RunWorkersAsync(stoppingToken);
                return;
            }

            var identity = election.Identity ?? Environment.GetEnvironmentVariable("POD_NAME") ?? $"{Environment.MachineName}-{Guid.NewGuid().ToString("N")[..8]}";
            var ns = election.Namespace ?? Environment.GetEnvironmentVariable("POD_NAMESPACE") ?? "default";
            var elector = new LeaseElector(kubernetes, ns, election.LeaseName, identity, election, time);
            LogCompeting(logger, identity, ns, election.LeaseName);

            // Compete until the host stops. A control plane that cannot be reached (or answers errors) is
            // waited out with capped backoff, reported through readiness: never a reason to exit, which in a
            // pod would become CrashLoopBackOff and keep the operator away long after the API server is back.
            // A term that ends (the Lease lost, or not renewed in time) stops every worker before anything
            // else happens, and then this replica competes again like any standby.
            var backoff = RetryFloor;
            while (true)
            {
                var wait = election.RetryPeriod;
                var (acquired, problem) = await AttemptAsync(elector, election.RenewDeadline, stoppingToken);
                if (acquired)
                {
                    var ended = await LeadAsync(elector, ns, stoppingToken);
                    if (stoppingToken.IsCancellationRequested)
                    {
                        // A graceful stop (a rolling update, a drain): hand the Lease over now that no worker runs,
                        // so that a standby leads within its retry period instead of waiting out the lease.
                        await ReleaseAsync(elector, ns, election.LeaseName);
                        return;
                    }

                    LogLostLeadership(logger, identity, ended);
                    backoff = RetryFloor;
                }
                else if (problem is not null)
                {
                    health.ElectionProblem = $"cannot reach the API server to compete for Lease {ns}/{election.LeaseName} ({problem}); retrying";
                    if (backoff == RetryFloor || backoff == RetryCeiling)
                        LogElectionRetry(logger, identity, problem, backoff.TotalSeconds);
                    wait = backoff;
                    backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, RetryCeiling.Ticks));
                }
                else
                {
                    backoff = RetryFloor;
                }

                try
                {
                    await Task.Delay(wait, time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // No silent death: fail liveness and stop, so Kubernetes restarts the pod.
            health.Fault($"leader election failed: {e.GetType().Name}: {e.Message}");
            LogFailed(logger, e.GetType().Name, e.Message);
            Environment.ExitCode = 1;
            lifetime.StopApplication();
        }
        finally
        {
            health.IsLeader = false;
            await informers.ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    /// <summary>
    /// One attempt to acquire or renew, bounded by <paramref name="timeout"/> (a hung API server must not
    /// hold a standby's readiness or a leader's deadline). An answer clears the election problem; errors
    /// that mean "the API server cannot be reached or refused" come back as the problem; anything else is
    /// a fault and escapes.
    /// </summary>
    private async Task<(bool Held, string? Problem)> AttemptAsync(LeaseElector elector, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var attempt = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(attempt.Token, cancellationToken);
        try
        {
            var held = await elector.TryAcquireOrRenewAsync(linked.Token);
            health.ElectionProblem = null;
            return (held, null);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && IsUnreachable(e))
        {
            return (false, attempt.IsCancellationRequested ? $"no answer within {timeout.TotalSeconds:0.#} s" : Describe(e));
        }
    }

    /// <summary>
    /// One term: the workers run from the acquisition until the Lease is lost, is not renewed within the
    /// renew deadline (a timer on the workers' token, so a hung renewal cannot stretch the term), or the
    /// host stops. Returns only after every worker of the term has stopped, so nothing this replica does
    /// afterwards overlaps a write of the term; the answer says why the term ended.
    /// </summary>
    private async Task<string> LeadAsync(LeaseElector elector, string ns, CancellationToken stoppingToken)
    {
        var election = options.Value.LeaderElection;
        using var leading = new CancellationTokenSource(elector.LeadershipLeft, time);
        await using var stopping = stoppingToken.Register(leading.Cancel);
        health.ElectionProblem = null;
        health.IsLeader = true;
        LogStartedLeading(logger, elector.Identity, ns, election.LeaseName);
        var workers = Task.Run(() => controller.RunWorkersAsync(leading.Token), CancellationToken.None);
        var notRenewed = $"the Lease was not renewed within {election.RenewDeadline.TotalSeconds:0.#} s";
        var ended = notRenewed;
        try
        {
            while (true)
            {
                await Task.Delay(election.RetryPeriod, time, leading.Token);
                var (held, problem) = await AttemptAsync(elector, election.RenewDeadline, leading.Token);
                if (held)
                {
                    leading.CancelAfter(elector.LeadershipLeft);
                    ended = notRenewed;
                }
                else if (problem is not null)
                {
                    ended = $"{notRenewed}, last: {problem}";
                }
                else if (!elector.IsLeader)
                {
                    return $"the Lease is held by {elector.ObservedHolder}";
                }
            }
        }
        catch (OperationCanceledException) when (leading.IsCancellationRequested)
        {
            return ended;
        }
        finally
        {
            // Stop writing first, whatever ended the term.
            health.IsLeader = false;
            await leading.CancelAsync();
            await workers.ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    /// <summary>The first wait after the API server could not be reached; it doubles up to <see cref="RetryCeiling"/>.</summary>
    private static readonly TimeSpan RetryFloor = TimeSpan.FromMilliseconds(500);

    /// <summary>The longest wait between attempts: a replica competes again within this of the API server answering.</summary>
    private static readonly TimeSpan RetryCeiling = TimeSpan.FromSeconds(4);

    /// <summary>The API server could not be reached, did not answer in time, or answered with an error.</summary>
    private static bool IsUnreachable(Exception e) =>
        e is HttpRequestException or k8s.Autorest.HttpOperationException or TimeoutException or IOException
        || (e is OperationCanceledException or TaskCanceledException)
        || e.InnerException is HttpRequestException or IOException or System.Net.Sockets.SocketException;

    private static string Describe(Exception e) => e switch
    {
        k8s.Autorest.HttpOperationException http => $"HTTP {(int)http.Response.StatusCode}",
        _ => $"{e.GetType().Name}: {e.Message}",
    };

    /// <summary>Hands the Lease over if this replica still holds it (the elector checks). Best effort: on failure the Lease simply expires.</summary>
    private async Task ReleaseAsync(LeaseElector elector, string ns, string leaseName)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            if (await elector.ReleaseAsync(timeout.Token))
                LogReleased(logger, elector.Identity, ns, leaseName);
        }
        catch (Exception e) when (e is k8s.Autorest.HttpOperationException or HttpRequestException or OperationCanceledException)
        {
            LogReleaseFailed(logger, elector.Identity, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Identity} released Lease {Namespace}/{Lease} on shutdown")]
    private static partial void LogReleased(ILogger logger, string identity, string @namespace, string lease);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Identity} could not release its Lease on shutdown ({Message}); it expires instead")]
    private static partial void LogReleaseFailed(ILogger logger, string identity, string message);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Identity} competes for Lease {Namespace}/{Lease}")]
    private static partial void LogCompeting(ILogger logger, string identity, string @namespace, string lease);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Identity} holds Lease {Namespace}/{Lease}")]
    private static partial void LogStartedLeading(ILogger logger, string identity, string @namespace, string lease);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Identity} lost the Lease ({Reason}): stopped all work; competing again")]
    private static partial void LogLostLeadership(ILogger logger, string identity, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Identity} cannot reach the API server to compete for the Lease ({Error}); retrying every {Seconds} s at most")]
    private static partial void LogElectionRetry(ILogger logger, string identity, string error, double seconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "Leader election failed ({Type}): {Message}")]
    private static partial void LogFailed(ILogger logger, string type, string message);
}
