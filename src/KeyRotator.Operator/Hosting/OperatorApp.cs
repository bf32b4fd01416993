using Azure.Core;
using Azure.Identity;
using k8s;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Operator.Configuration;
using KeyRotator.Operator.Controllers;
using KeyRotator.Operator.Informers;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Observability;
using KeyRotator.Operator.Publishing;
using KeyRotator.Operator.Runtime;
using KeyRotator.Operator.Scheduling;
using KeyRotator.Operator.Serving;
using KeyRotator.Operator.Vault;
using KeyRotator.Operator.Vault.Azure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.Hosting;

/// <summary>The composition root: what runs in the operator process, and its HTTP endpoints.</summary>
public static class OperatorApp
{
    public static WebApplication Build(string[] args, Action<IServiceCollection>? configure = null)
    {
        // Before anything reads or writes a resource: KubernetesJson's options freeze on first use.
        KeyRotatorJson.UseInKubernetesJson();
        var builder = WebApplication.CreateBuilder(args);
        builder.Services.AddOptions<OperatorOptions>()
            .Bind(builder.Configuration.GetSection(OperatorOptions.Section))
            .Validate(o => o.Workers > 0, "KeyRotator:Workers must be at least 1")
            .Validate(o => o.SignerPropagationAllowance >= TimeSpan.Zero, "KeyRotator:SignerPropagationAllowance must not be negative")
            .Validate(o => o.RetiredKeyHistory is >= 1 and <= 100, "KeyRotator:RetiredKeyHistory must be between 1 and 100")
            .Validate(o => o.LeaderElection.RenewDeadline < o.LeaderElection.LeaseDuration, "KeyRotator:LeaderElection:RenewDeadline must be shorter than LeaseDuration")
            .Validate(o => o.AzureKeyVault.SoftwareCreatesPer10Seconds is > 0 and <= AzureKeyVaultOptions.SoftwareCreatesServiceLimit, "KeyRotator:AzureKeyVault:SoftwareCreatesPer10Seconds must be between 1 and Key Vault's limit of 20")
            .Validate(o => o.AzureKeyVault.HsmCreatesPer10Seconds is > 0 and <= AzureKeyVaultOptions.HsmCreatesServiceLimit, "KeyRotator:AzureKeyVault:HsmCreatesPer10Seconds must be between 1 and Key Vault's limit of 10")
            .Validate(o => o.AzureKeyVault.MaxRetries is >= 0 and <= 10, "KeyRotator:AzureKeyVault:MaxRetries must be between 0 and 10")
            .Validate(o => o.Api.Qps >= 0 && double.IsFinite(o.Api.Qps), "KeyRotator:Api:Qps must be 0 (no client-side limit) or a positive number of requests per second")
            .Validate(o => o.Api.Burst >= 1, "KeyRotator:Api:Burst must be at least 1")
            .Validate(o => o.Api.MaxRetries is >= 0 and <= 100, "KeyRotator:Api:MaxRetries must be between 0 and 100")
            .Validate(o => o.Api.MaxRetryDelay > TimeSpan.Zero, "KeyRotator:Api:MaxRetryDelay must be positive")
            .Validate(o => o.Reports.MaxConcurrentReviews >= 1, "KeyRotator:Reports:MaxConcurrentReviews must be at least 1")
            .Validate(o => o.Reports.PeerTokenPath is not { Length: > 0 } || o.Reports.PeerIdentity is { Length: > 0 }, "KeyRotator:Reports:PeerIdentity (the operator's service account, system:serviceaccount:<namespace>:<name>) is required with PeerTokenPath")
            .Validate(o => o.Reports.TokenReviewsPerSecond >= 1, "KeyRotator:Reports:TokenReviewsPerSecond must be at least 1")
            .Validate(o => o.Reports.TokenReviewBurst >= 1, "KeyRotator:Reports:TokenReviewBurst must be at least 1")
            .Validate(o => o.Reports.TokenReviewsPerSecondPerNamespace >= 1, "KeyRotator:Reports:TokenReviewsPerSecondPerNamespace must be at least 1")
            .Validate(o => o.Reports.TokenReviewBurstPerNamespace >= 1, "KeyRotator:Reports:TokenReviewBurstPerNamespace must be at least 1")
            .Validate(o => o.Reports.SubjectAccessReviewsPerSecond >= 1 && o.Reports.SubjectAccessReviewBurst >= 1, "KeyRotator:Reports:SubjectAccessReviewsPerSecond and SubjectAccessReviewBurst must be at least 1")
            .Validate(o => o.Reports.SubjectAccessReviewsPerSecondPerNamespace >= 1, "KeyRotator:Reports:SubjectAccessReviewsPerSecondPerNamespace must be at least 1")
            .Validate(o => o.Reports.SubjectAccessReviewBurstPerNamespace >= 1, "KeyRotator:Reports:SubjectAccessReviewBurstPerNamespace must be at least 1")
            .Validate(o => o.Reports.ReviewTimeout > TimeSpan.Zero, "KeyRotator:Reports:ReviewTimeout must be positive")
            .Validate(o => o.AzureKeyVault.NetworkTimeout > TimeSpan.Zero, "KeyRotator:AzureKeyVault:NetworkTimeout must be positive")
            .Validate(o => o.MemoryTrimQuietPeriod >= TimeSpan.Zero, "KeyRotator:MemoryTrimQuietPeriod must be zero (off) or positive")
            .ValidateOnStart();

        // Per-request framework logging only when asked for (KeyRotator:RequestLogging): a line per request
        // would let any caller of the HTTP port fill the log. Warnings and errors still get through.
        if (!builder.Configuration.GetValue<bool>($"{OperatorOptions.Section}:{nameof(OperatorOptions.RequestLogging)}"))
        {
            builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
            // The HTTP room's authentication handler logs under its own name: a line for every refused caller otherwise.
            builder.Logging.AddFilter(typeof(ServiceAccountAuthenticationHandler).FullName, LogLevel.Warning);
        }

        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton<IKubernetes>(s => KubernetesClient(s, ClientConfiguration(builder.Configuration)));
        builder.Services.AddSingleton<ObjectCache>();
        builder.Services.TryAddSingleton<IObjectClient, ObjectClient>();
        builder.Services.AddSingleton<ObjectWriter>();
        builder.Services.AddSingleton<JwksPublisher>();
        builder.Services.AddSingleton<KeyWithdrawer>();
        builder.Services.AddSingleton<PublishTargets>();
        builder.Services.AddSingleton<ExternalPublisher>();
        builder.Services.AddSingleton<SigningSecretPublisher>();
        builder.Services.AddSingleton<EventRecorder>();
        builder.Services.AddSingleton<KeyGenerator>();
        builder.Services.AddSingleton<KubernetesKeyStore>();
        builder.Services.AddSingleton<IKeyStore>(s => s.GetRequiredService<KubernetesKeyStore>());
        builder.Services.AddSingleton<IKeyStore, Pkcs11KeyStore>();
        // Workload identity in the cluster (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE), else the usual chain.
        builder.Services.TryAddSingleton<TokenCredential>(_ => new DefaultAzureCredential());
        builder.Services.TryAddSingleton(s =>
        {
            var azure = s.GetRequiredService<IOptions<OperatorOptions>>().Value.AzureKeyVault;
            var options = new KeyVaultClientOptions();
            options.Retry.MaxRetries = azure.MaxRetries;
            options.Retry.NetworkTimeout = azure.NetworkTimeout;
            return options;
        });
        builder.Services.AddSingleton(s =>
        {
            var azure = s.GetRequiredService<IOptions<OperatorOptions>>().Value.AzureKeyVault;
            return new KeyVaultCreateLimiter(s.GetRequiredService<TimeProvider>(), azure.SoftwareCreatesPer10Seconds, azure.HsmCreatesPer10Seconds);
        });
        builder.Services.AddSingleton<KeyVaultClient>();
        builder.Services.AddSingleton<IKeyStore, AzureKeyVaultKeyStore>();
        builder.Services.AddSingleton<KeyStoreSelector>();
        builder.Services.AddSingleton<VaultGrants>();
        builder.Services.AddSingleton<SetClient>();
        builder.Services.AddSingleton<SetObserver>();
        builder.Services.AddSingleton<SetEffects>();
        builder.Services.AddSingleton<SetReporter>();
        builder.Services.AddSingleton<SetFinalizer>();
        builder.Services.AddSingleton<SigningKeySetReconciler>();
        builder.Services.AddSingleton<SigningKeySetController>();
        builder.Services.AddSingleton<ISigningKeySets>(sp => sp.GetRequiredService<SigningKeySetController>());
        builder.Services.AddSingleton<RotationScheduler>();
        builder.Services.AddSingleton<OperatorHealth>();
        builder.Services.AddSingleton<ApiAnswerClock>();
        builder.Services.AddSingleton<OperatorMetrics>();
        builder.Services.AddSingleton<SignatureFailureTracker>();
        builder.Services.AddSingleton<PropagationTracker>();
        // Every singleton that keeps something per set, forgotten together (SetMemory).
        builder.Services.AddSingleton<IRemembersSets>(s => s.GetRequiredService<ObjectCache>());
        builder.Services.AddSingleton<IRemembersSets>(s => s.GetRequiredService<KubernetesKeyStore>());
        builder.Services.AddSingleton<IRemembersSets>(s => s.GetRequiredService<KeyGenerator>());
        builder.Services.AddSingleton<IRemembersSets>(s => s.GetRequiredService<SigningSecretPublisher>());
        builder.Services.AddSingleton<IRemembersSets>(s => s.GetRequiredService<SignatureFailureTracker>());
        builder.Services.AddSingleton<IRemembersSets>(s => s.GetRequiredService<PropagationTracker>());
        builder.Services.AddSingleton<IRemembersSets>(s => s.GetRequiredService<OperatorMetrics>());
        builder.Services.AddSingleton<IRemembersSets>(s => s.GetRequiredService<ExternalPublisher>());
        builder.Services.AddSingleton<IRemembersSets>(s => s.GetRequiredService<RotationScheduler>());
        builder.Services.AddSingleton<SetMemory>();
        builder.Services.AddHttpEdge();
        builder.Services.AddHostedService<LeaderElectionService>();
        builder.Services.AddSingleton<MemoryTrimmer>();
        builder.Services.AddHostedService(s => s.GetRequiredService<MemoryTrimmer>());
        configure?.Invoke(builder.Services);

        var app = builder.Build();
        var metrics = app.Services.GetRequiredService<OperatorMetrics>();
        var controller = app.Services.GetRequiredService<SigningKeySetController>();
        var health = app.Services.GetRequiredService<OperatorHealth>();
        metrics.BeforeCollect += () =>
        {
            metrics.QueueDepth.Set(controller.Queue.Depth);
            metrics.Leader.Set(health.IsLeader ? 1 : 0);
            metrics.WatchHealthy.Set(controller.InformersHealthy ? 1 : 0);
        };
        app.MapHttpEdge(metrics.Registry, app.Services.GetRequiredService<IOptions<OperatorOptions>>().Value.Metrics.Authentication);
        // Anonymous, and never naming a set: liveness and readiness say only what the operator itself is doing.
        app.MapGet("/healthz", (OperatorHealth health) => Respond(health.Live()));
        app.MapGet("/readyz", (OperatorHealth health) => Respond(health.Ready()));
        return app;
    }

    private static IResult Respond((bool Ok, string Detail) check) =>
        check.Ok ? Results.Text(check.Detail) : Results.Text(check.Detail, statusCode: StatusCodes.Status503ServiceUnavailable);

    /// <summary>
    /// The operator's Kubernetes client: <paramref name="config"/>, paced by <see cref="ApiRateLimitHandler"/>
    /// (KeyRotator:Api), each answer read in full by <see cref="ResponseBufferingHandler"/> (so that no
    /// thread waits on a body), then <paramref name="handlers"/> (tests add recorders) nearest the wire.
    /// </summary>
    public static IKubernetes KubernetesClient(IServiceProvider services, KubernetesClientConfiguration config, IEnumerable<DelegatingHandler>? handlers = null)
    {
        var metrics = services.GetRequiredService<OperatorMetrics>();
        var pacing = new ApiRateLimitHandler(
            services.GetRequiredService<IOptions<OperatorOptions>>().Value.Api,
            services.GetRequiredService<TimeProvider>(),
            (by, wait) =>
            {
                metrics.ApiThrottled.WithLabels(by).Inc();
                metrics.ApiThrottledSeconds.WithLabels(by).Inc(wait.TotalSeconds);
            },
            services.GetRequiredService<Microsoft.Extensions.Logging.ILoggerFactory>().CreateLogger("KeyRotator.Operator.Kubernetes"));
        return new k8s.Kubernetes(config, [pacing, services.GetRequiredService<ApiAnswerClock>().Handler(), new ResponseBufferingHandler(), .. handlers ?? []]);
    }

    /// <summary>In a pod: the service account. Elsewhere: --kubeconfig, $KUBECONFIG or ~/.kube/config.</summary>
    internal static KubernetesClientConfiguration ClientConfiguration(ConfigurationManager configuration)
    {
        if (configuration["kubeconfig"] is { Length: > 0 } path)
            return KubernetesClientConfiguration.BuildConfigFromConfigFile(path, configuration["context"]);
        return KubernetesClientConfiguration.IsInCluster()
            ? KubernetesClientConfiguration.InClusterConfig()
            : KubernetesClientConfiguration.BuildConfigFromConfigFile(currentContext: configuration["context"]);
    }
}
