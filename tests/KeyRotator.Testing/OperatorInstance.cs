using System.Globalization;
using k8s;
using KeyRotator.Operator.Controllers;
using KeyRotator.Operator.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;

namespace KeyRotator.Testing;

/// <summary>
/// The operator, in process, against the test API server, as the operator identity, watching the
/// test's namespaces only (tests run in parallel), with its log lines captured.
/// </summary>
public sealed class OperatorInstance : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly CancellationTokenSource _stop = new();
    private bool _stopped;

    private readonly KubernetesEnvironment _env;

    private OperatorInstance(WebApplication app, CapturedLogs logs, KubernetesEnvironment env)
    {
        _app = app;
        Logs = logs;
        _env = env;
    }

    public CapturedLogs Logs { get; }

    public SigningKeySetController Controller => _app.Services.GetRequiredService<SigningKeySetController>();

    public OperatorHealth Health => _app.Services.GetRequiredService<OperatorHealth>();

    /// <summary>The operator's object cache (what its informers hold).</summary>
    public Operator.Informers.ObjectCache Cache => _app.Services.GetRequiredService<Operator.Informers.ObjectCache>();

    /// <summary>The reported signature failures the operator holds (its ceiling per set is what a flood test checks).</summary>
    public Operator.Observability.SignatureFailureTracker SignatureFailures => _app.Services.GetRequiredService<Operator.Observability.SignatureFailureTracker>();

    public Uri BaseAddress { get; private set; } = null!;

    public string Identity { get; private set; } = "";

    /// <summary>Waits until the work queue is empty: every reconcile enqueued so far has run.</summary>
    public Task WaitForQuietQueueAsync(CancellationToken cancellationToken, TimeSpan? timeout = null) =>
        Eventually.HoldsAsync(() => Task.FromResult(Controller.Queue.Depth), d => d == 0, timeout ?? TimeSpan.FromSeconds(10), "a quiet queue", cancellationToken);

    public static async Task<OperatorInstance> StartAsync(
        KubernetesEnvironment env,
        IReadOnlyList<string> namespaces,
        string? identity = null,
        IEnumerable<KeyValuePair<string, string?>>? settings = null,
        IEnumerable<DelegatingHandler>? handlers = null,
        Action<IServiceCollection>? configure = null,
        CapturedLogs? logs = null,
        KubernetesClientConfiguration? clientConfig = null)
    {
        logs ??= new CapturedLogs();
        env.TrackLogs(logs);
        identity ??= $"operator-{Guid.NewGuid():N}"[..20];
        var args = Arguments(namespaces, identity, settings);

        // In process the operator shares the test runner's GC: a memory trim there would collect the
        // runner's heap, measure nothing real and pause every test at once. (OperatorProcess keeps it.)
        args.InsertRange(0, ["--urls", "http://127.0.0.1:0", "--KeyRotator:MemoryTrimQuietPeriod", "00:00:00"]);

        var app = OperatorApp.Build([.. args], services =>
        {
            services.AddSingleton(s => OperatorApp.KubernetesClient(s, clientConfig ?? env.OperatorConfig, handlers));
            services.AddLogging(b => b.ClearProviders().AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
            services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
            configure?.Invoke(services);
        });
        var instance = new OperatorInstance(app, logs, env) { Identity = identity };
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        instance.BaseAddress = new Uri(address);
        return instance;
    }

    /// <summary>
    /// Lease timings for tests of failover (6 s lease, 4 s renew deadline, 1 s retry), so that a
    /// takeover happens in seconds. Every other test keeps the shipped 15/10/2: a replica that cannot
    /// renew within the deadline ends itself, and on a busy shared test API server 4 s is not enough.
    /// </summary>
    public static IReadOnlyDictionary<string, string?> FastFailover { get; } = new Dictionary<string, string?>
    {
        ["KeyRotator:LeaderElection:LeaseDuration"] = "00:00:06",
        ["KeyRotator:LeaderElection:RenewDeadline"] = "00:00:04",
        ["KeyRotator:LeaderElection:RetryPeriod"] = "00:00:01",
    };

    /// <summary>
    /// The settings every operator under test runs with, in process or as a process: short minimums,
    /// watching the test's namespaces, the Lease in the first of them, then the test's own settings.
    /// </summary>
    public static List<string> Arguments(IReadOnlyList<string> namespaces, string identity, IEnumerable<KeyValuePair<string, string?>>? settings)
    {
        var args = new List<string>
        {
            "--KeyRotator:MinimumPrePublish", "00:00:01",
            "--KeyRotator:MinimumInterval", "00:00:05",
            "--KeyRotator:SignerPropagationAllowance", "00:00:01",
            "--KeyRotator:LeaderElection:Namespace", namespaces[0],
            "--KeyRotator:LeaderElection:Identity", identity,
            "--Logging:LogLevel:Default", "Information",
            // As the chart with pkcs11.libraries set: SoftHSM2 is the one module the operator may load.
            "--KeyRotator:Pkcs11:Libraries:0", SoftHsm.Library,
        };
        for (var i = 0; i < namespaces.Count; i++)
            args.AddRange([$"--KeyRotator:WatchNamespaces:{i.ToString(CultureInfo.InvariantCulture)}", namespaces[i]]);
        foreach (var (key, value) in settings ?? [])
            args.AddRange([$"--{key}", value ?? ""]);
        return args;
    }

    /// <summary>
    /// What this operator serves, for the end-of-run leak scan: /metrics (as a metrics reader) and, for
    /// every set it watches, the JWKS and discovery document over HTTP.
    /// </summary>
    private async Task TrackServedAsync()
    {
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        async Task TrackAsync(string path)
        {
            try
            {
                using var response = await http.GetAsync(new Uri(path, UriKind.Relative));
                _env.TrackOutput($"{Identity} GET {path}", await response.Content.ReadAsStringAsync());
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }
        }

        try
        {
            _env.TrackOutput($"{Identity} GET /metrics", await http.GetMetricsAsync(_env));
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or k8s.Autorest.HttpOperationException)
        {
        }

        foreach (var set in Controller.CachedSets.ToList())
        {
            var prefix = $"/v1/namespaces/{set.Metadata.NamespaceProperty}/signingkeysets/{set.Metadata.Name}";
            await TrackAsync($"{prefix}/jwks.json");
            await TrackAsync($"{prefix}/.well-known/openid-configuration");
        }
    }

    /// <summary>Stops the operator (graceful shutdown; what a SIGTERM does).</summary>
    public async Task StopAsync()
    {
        if (_stopped)
            return;
        _stopped = true;
        await _stop.CancelAsync();
        await _app.StopAsync(CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stopped)
            await TrackServedAsync();
        await StopAsync();
        await _app.DisposeAsync();
        _stop.Dispose();

        // xUnit prints a test's output only when it fails (every test's lands in the results file).
        if (TestContext.Current.TestOutputHelper is { } output)
        {
            output.WriteLine($"--- operator {Identity}: last log lines");
            foreach (var line in Logs.Tail(150))
                output.WriteLine(line);
        }
    }
}
