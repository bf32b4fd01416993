using System.Globalization;

namespace KeyRotator.Testing;

/// <summary>
/// The built operator (src/KeyRotator.Operator/bin/&lt;configuration&gt;/net10.0) run the way a user
/// runs it: its own process, a kubeconfig, command-line settings. It can be SIGKILLed and started
/// again under the same identity (a restarted pod keeps its name). Every run's output is kept for
/// failure messages and handed to the end-of-run leak scan.
/// </summary>
public sealed class OperatorProcess : IAsyncDisposable
{
    private readonly KubernetesEnvironment _env;
    private readonly string _kubeconfig;
    private readonly IReadOnlyList<string> _namespaces;
    private readonly IEnumerable<KeyValuePair<string, string?>>? _settings;
    private readonly IReadOnlyDictionary<string, string>? _environment;
    private readonly string _logDirectory;
    private readonly List<string> _logFiles = [];
    private ManagedProcess? _process;

    public OperatorProcess(KubernetesEnvironment env, string identity, string kubeconfig, IReadOnlyList<string> namespaces, IEnumerable<KeyValuePair<string, string?>>? settings = null, int? port = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        _env = env;
        BaseAddress = port is { } p ? new Uri($"http://127.0.0.1:{p.ToString(CultureInfo.InvariantCulture)}") : null;
        Identity = identity;
        _kubeconfig = kubeconfig;
        _namespaces = namespaces;
        _settings = settings;
        _environment = environment;
        _logDirectory = Directory.CreateTempSubdirectory($"keyrotator-{identity}-").FullName;
    }

    /// <summary>What the image (Dockerfile) sets for the runtime: a 4 MB gen0 budget and no diagnostics port (a process's memory depends on both).</summary>
    public static IReadOnlyDictionary<string, string> ImageEnvironment { get; } = new Dictionary<string, string> { ["DOTNET_GCgen0size"] = "0x400000", ["DOTNET_EnableDiagnostics"] = "0" };

    public string Identity { get; }

    /// <summary>Where the process serves HTTP (reports, JWKS, metrics) when started on a fixed port.</summary>
    public Uri? BaseAddress { get; }

    /// <summary>Starts the process on a free loopback port and waits until it answers /healthz.</summary>
    /// <param name="kubeconfig">The operator's kubeconfig; the control plane's operator kubeconfig when null (pass one that goes through a proxy to watch or cut its traffic).</param>
    /// <param name="environment">Variables the process gets beside the test's own (e.g. <see cref="ImageEnvironment"/>).</param>
    public static async Task<OperatorProcess> StartServingAsync(KubernetesEnvironment env, string identity, IReadOnlyList<string> namespaces, IEnumerable<KeyValuePair<string, string?>>? settings = null, string? kubeconfig = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var plane = env.ControlPlane ?? throw new InvalidOperationException("operator processes need the envtest control plane (its operator kubeconfig)");
        var process = new OperatorProcess(env, identity, kubeconfig ?? plane.OperatorKubeconfigPath, namespaces, settings, FreePort.Next(), environment);
        process.Start();
        using var http = new HttpClient { BaseAddress = process.BaseAddress, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            try
            {
                using var response = await http.GetAsync(new Uri("/healthz", UriKind.Relative));
                if (response.IsSuccessStatusCode)
                    return process;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }

            if (DateTime.UtcNow > deadline || !process.IsRunning)
            {
                var tail = process.Tail();
                await process.DisposeAsync();
                throw new InvalidOperationException($"the operator process did not come up:\n{tail}");
            }

            await Task.Delay(200);
        }
    }

    /// <summary>How many times this replica has been started.</summary>
    public int Starts => _logFiles.Count;

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>The running process's id (for /proc), or null when it is not running.</summary>
    public int? ProcessId => _process is { HasExited: false } p ? p.Id : null;

    public int? ExitCode => _process is { HasExited: true } p ? p.ExitCode : null;

    /// <summary>The operator assembly built next to the test assembly's configuration (Debug or Release).</summary>
    public static string Assembly
    {
        get
        {
            var path = Repository.BuildOutput("KeyRotator.Operator", "KeyRotator.Operator.dll");
            return File.Exists(path)
                ? path
                : throw new InvalidOperationException($"the operator is not built at {path}: run `dotnet build KeyRotator.sln -c {Repository.Configuration}` first");
        }
    }

    public void Start()
    {
        if (IsRunning)
            throw new InvalidOperationException($"{Identity} is already running");
        var log = Path.Combine(_logDirectory, $"run-{_logFiles.Count.ToString("D3", CultureInfo.InvariantCulture)}.log");
        _logFiles.Add(log);
        var args = new List<string> { Assembly, "--kubeconfig", _kubeconfig, "--urls", BaseAddress?.ToString() ?? "http://127.0.0.1:0" };
        args.AddRange(OperatorInstance.Arguments(_namespaces, Identity, _settings));
        _process?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _process = ManagedProcess.Start(Identity, "dotnet", args, log, Path.GetDirectoryName(Assembly), _environment);
    }

    /// <summary>SIGKILL: no shutdown code runs, nothing is flushed, the lease is not released.</summary>
    public async Task KillAsync()
    {
        if (_process is null)
            return;
        _process.Kill();
        await _process.WaitForExitAsync(CancellationToken.None);
    }

    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        if (_process is null)
            return true;
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Every line every run of this replica printed.</summary>
    public IReadOnlyList<string> Output() => [.. _logFiles.Where(File.Exists).SelectMany(ReadShared)];

    /// <summary>The last lines of the current run, for failure messages.</summary>
    public string Tail(int lines = 40) => _process?.Tail(lines) ?? "(never started)";

    private static IEnumerable<string> ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Split('\n');
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
            await _process.DisposeAsync();
        var logs = new CapturedLogs();
        logs.AddLines(Output());
        _env.TrackLogs(logs);
    }
}
