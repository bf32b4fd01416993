using k8s;
using k8s.LeaderElection;
using k8s.LeaderElection.ResourceLock;
using k8s.Models;
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
            var leaseLock = new LeaseLock(kubernetes, ns, election.LeaseName, identity);
            LogCompeting(logger, identity, ns, election.LeaseName);

            // Compete until the host stops. A control plane that cannot be reached (or answers errors) is
            // waited out with capped backoff, reported through readiness: never a reason to exit, which in a
            // pod would become CrashLoopBackOff and keep the operator away long after the API server is back.
            // A term that ends (the Lease lost, or not renewed in time) stops every worker before anything
            // else happens, and then this replica competes again like any standby.
            var backoff = RetryFloor;
            while (true)
            {
                var term = await RunTermAsync(leaseLock, identity, ns, stoppingToken);
                if (stoppingToken.IsCancellationRequested)
                {
                    // A graceful stop (a rolling update, a drain): hand the Lease over now that no worker runs,
                    // so that a standby leads within its retry period instead of waiting out the lease.
                    if (term.Led)
                        await ReleaseAsync(ns, election.LeaseName, identity);
                    return;
                }

                if (term.Led)
                {
                    LogLostLeadership(logger, identity, term.Problem ?? "the Lease was not renewed in time");
                    backoff = RetryFloor;
                }

                if (term.Problem is { } problem)
                {
                    health.ElectionProblem = $"cannot reach the API server to compete for Lease {ns}/{election.LeaseName} ({problem}); retrying";
                    if (!term.Led && (backoff == RetryFloor || backoff == RetryCeiling))
                        LogElectionRetry(logger, identity, problem, backoff.TotalSeconds);
                }

                try
                {
                    await Task.Delay(term.Led ? election.RetryPeriod : backoff, time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                if (!term.Led)
                    backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, RetryCeiling.Ticks));
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

    /// <summary>How one round of competing ended: whether this replica led in it, and what went wrong if anything.</summary>
    private readonly record struct Term(bool Led, string? Problem);

    /// <summary>
    /// Competes once: waits to acquire the Lease, leads (the workers run) until it is lost, and returns
    /// only after every worker of the term has stopped, so nothing this replica does afterwards overlaps a
    /// write of the term. Errors that mean "the API server cannot be reached or refused" end the term;
    /// anything else is a fault and escapes.
    /// </summary>
    private async Task<Term> RunTermAsync(LeaseLock leaseLock, string identity, string ns, CancellationToken stoppingToken)
    {
        var election = options.Value.LeaderElection;
        using var leading = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        Task? workers = null;
        using var elector = new LeaderElector(new LeaderElectionConfig(leaseLock)
        {
            LeaseDuration = election.LeaseDuration,
            RenewDeadline = election.RenewDeadline,
            RetryPeriod = election.RetryPeriod,
        });
        elector.OnNewLeader += _ => health.ElectionProblem = null;
        elector.OnStartedLeading += () =>
        {
            health.ElectionProblem = null;
            health.IsLeader = true;
            LogStartedLeading(logger, identity, ns, election.LeaseName);
            workers = Task.Run(() => controller.RunWorkersAsync(leading.Token), CancellationToken.None);
        };
        elector.OnStoppedLeading += () =>
        {
            health.IsLeader = false;
            leading.Cancel();
        };

        string? problem = null;
        try
        {
            await elector.RunUntilLeadershipLostAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e) when (IsUnreachable(e))
        {
            problem = Describe(e);
        }
        finally
        {
            // Stop writing first, whatever ended the term.
            health.IsLeader = false;
            await leading.CancelAsync();
            if (workers is not null)
                await workers.ContinueWith(_ => { }, TaskScheduler.Default);
        }

        return new Term(workers is not null, problem);
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

    /// <summary>
    /// Deletes the Lease if this replica still holds it, with its resourceVersion as a precondition so
    /// that a Lease someone else took meanwhile is never touched. (Deleting rather than emptying the
    /// holder: the KubernetesClient elector treats a Lease without holder as one it must create, and
    /// waits out a full LeaseDuration after any change it observes.) Best effort: on failure the Lease
    /// simply expires.
    /// </summary>
    private async Task ReleaseAsync(string ns, string leaseName, string identity)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            var lease = await kubernetes.CoordinationV1.ReadNamespacedLeaseAsync(leaseName, ns, cancellationToken: timeout.Token);
            if (lease.Spec?.HolderIdentity != identity)
                return;
            await kubernetes.CoordinationV1.DeleteNamespacedLeaseAsync(leaseName, ns,
                new V1DeleteOptions { Preconditions = new V1Preconditions { ResourceVersion = lease.Metadata.ResourceVersion, Uid = lease.Metadata.Uid } },
                cancellationToken: timeout.Token);
            LogReleased(logger, identity, ns, leaseName);
        }
        catch (Exception e) when (e is k8s.Autorest.HttpOperationException or HttpRequestException or OperationCanceledException)
        {
            LogReleaseFailed(logger, identity, e.Message);
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
