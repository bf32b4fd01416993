using k8s;
using k8s.LeaderElection;
using k8s.LeaderElection.ResourceLock;
using KeyRotator.Operator.Controllers;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.Hosting;

/// <summary>
/// Runs the informers on every replica and the reconcile workers only on the Lease holder. Losing
/// the lease stops work at once and ends the process (as controller-runtime does), so a restarted
/// pod competes again with a clean slate.
/// </summary>
public sealed partial class LeaderElectionService(
    IKubernetes kubernetes,
    SigningKeySetController controller,
    OperatorHealth health,
    IHostApplicationLifetime lifetime,
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
            using var elector = new LeaderElector(new LeaderElectionConfig(leaseLock)
            {
                LeaseDuration = election.LeaseDuration,
                RenewDeadline = election.RenewDeadline,
                RetryPeriod = election.RetryPeriod,
            });

            using var leading = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            Task? workers = null;
            elector.OnStartedLeading += () =>
            {
                health.IsLeader = true;
                LogStartedLeading(logger, identity, ns, election.LeaseName);
                workers = Task.Run(() => controller.RunWorkersAsync(leading.Token), CancellationToken.None);
            };
            elector.OnStoppedLeading += () =>
            {
                health.IsLeader = false;
                leading.Cancel();
            };

            LogCompeting(logger, identity, ns, election.LeaseName);
            await elector.RunUntilLeadershipLostAsync(stoppingToken);
            await leading.CancelAsync();
            if (workers is not null)
                await workers.ContinueWith(_ => { }, TaskScheduler.Default);

            if (!stoppingToken.IsCancellationRequested)
            {
                LogLostLeadership(logger, identity);
                Environment.ExitCode = 1;
                lifetime.StopApplication();
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

    [LoggerMessage(Level = LogLevel.Information, Message = "{Identity} competes for Lease {Namespace}/{Lease}")]
    private static partial void LogCompeting(ILogger logger, string identity, string @namespace, string lease);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Identity} holds Lease {Namespace}/{Lease}")]
    private static partial void LogStartedLeading(ILogger logger, string identity, string @namespace, string lease);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Identity} lost the Lease: stopping all work and exiting")]
    private static partial void LogLostLeadership(ILogger logger, string identity);

    [LoggerMessage(Level = LogLevel.Error, Message = "Leader election failed ({Type}): {Message}")]
    private static partial void LogFailed(ILogger logger, string type, string message);
}
