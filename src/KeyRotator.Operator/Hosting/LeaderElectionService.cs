using k8s;
using k8s.LeaderElection;
using k8s.LeaderElection.ResourceLock;
using k8s.Models;
using KeyRotator.Operator.Controllers;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.Hosting;

/// <summary>
/// Runs the informers on every replica and the reconcile workers only on the Lease holder. Losing
/// the lease stops work at once and ends the process (as controller-runtime does), so a restarted
/// pod competes again with a clean slate. A replica that does not lead never exits because the API
/// server cannot be reached: it retries with capped backoff and is not ready meanwhile.
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

            using var leading = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            Task? workers = null;
            LogCompeting(logger, identity, ns, election.LeaseName);

            // Compete until this replica has led and lost, or the host stops. A control plane that cannot
            // be reached (or answers errors) while this replica does not lead is waited out with capped
            // backoff, reported through readiness: never a reason to exit, which in a pod would become
            // CrashLoopBackOff and keep the operator away long after the API server is back.
            var backoff = RetryFloor;
            while (true)
            {
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

                try
                {
                    await elector.RunUntilLeadershipLostAsync(stoppingToken);
                    break;
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception e) when (workers is null && IsUnreachable(e))
                {
                    health.ElectionProblem = $"cannot reach the API server to compete for Lease {ns}/{election.LeaseName} ({Describe(e)}); retrying";
                    if (backoff == RetryFloor || backoff == RetryCeiling)
                        LogElectionRetry(logger, identity, Describe(e), backoff.TotalSeconds);
                    try
                    {
                        await Task.Delay(backoff, time, stoppingToken);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }

                    backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, RetryCeiling.Ticks));
                }
            }

            await leading.CancelAsync();
            if (workers is not null)
                await workers.ContinueWith(_ => { }, TaskScheduler.Default);

            if (stoppingToken.IsCancellationRequested)
            {
                // A graceful stop (a rolling update, a drain): hand the Lease over now that no worker runs,
                // so that a standby leads within its retry period instead of waiting out the lease.
                if (workers is not null)
                    await ReleaseAsync(ns, election.LeaseName, identity);
                return;
            }

            LogLostLeadership(logger, identity);
            Environment.ExitCode = 1;
            lifetime.StopApplication();
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Identity} lost the Lease: stopping all work and exiting")]
    private static partial void LogLostLeadership(ILogger logger, string identity);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Identity} cannot reach the API server to compete for the Lease ({Error}); retrying every {Seconds} s at most")]
    private static partial void LogElectionRetry(ILogger logger, string identity, string error, double seconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "Leader election failed ({Type}): {Message}")]
    private static partial void LogFailed(ILogger logger, string type, string message);
}
