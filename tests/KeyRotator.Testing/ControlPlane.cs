using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using k8s;

namespace KeyRotator.Testing;

/// <summary>
/// etcd and kube-apiserver started on free loopback ports, the way controller-runtime's envtest does it:
/// RBAC authorization, static-token authentication for the test identities, service-account token signing.
/// </summary>
public sealed class ControlPlane : IAsyncDisposable
{
    /// <summary>The user that the operator runs as in tests, so that its RBAC can be proven.</summary>
    public const string OperatorUser = "keyrotator-operator";

    private readonly string _root;
    private readonly List<ManagedProcess> _processes = [];
    private Process? _watchdog;

    private readonly IReadOnlyList<string> _apiServerArgs;

    private ControlPlane(string root, string assets, IReadOnlyList<string> apiServerArgs)
    {
        _root = root;
        Assets = assets;
        _apiServerArgs = apiServerArgs;
        AdminToken = NewToken();
        OperatorToken = NewToken();
    }

    public string Assets { get; }

    public Uri Server { get; private set; } = null!;

    public string AdminToken { get; }

    public string OperatorToken { get; }

    /// <summary>A kubeconfig for the admin identity (system:masters), for kubectl and processes under test.</summary>
    public string AdminKubeconfigPath => Path.Combine(_root, "admin.kubeconfig");

    public string OperatorKubeconfigPath => Path.Combine(_root, "operator.kubeconfig");

    /// <summary>Directory with etcd and kube-apiserver: KUBEBUILDER_ASSETS, else the cache hack/envtest-assets.sh fills.</summary>
    public static string? FindAssets()
    {
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable("KUBEBUILDER_ASSETS") is { Length: > 0 } assets)
            candidates.Add(assets);
        var cacheRoot = Environment.GetEnvironmentVariable("KEYROTATOR_CACHE_DIR")
            ?? Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME")
                ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "keyrotator");
        candidates.Add(Path.Combine(cacheRoot, "envtest", "k8s-1.20.2"));
        return candidates.FirstOrDefault(d => File.Exists(Path.Combine(d, "etcd")) && File.Exists(Path.Combine(d, "kube-apiserver")));
    }

    /// <summary>Starts etcd and kube-apiserver; <paramref name="apiServerArgs"/> are added to kube-apiserver's flags.</summary>
    public static async Task<ControlPlane> StartAsync(string assets, CancellationToken cancellationToken, IReadOnlyList<string>? apiServerArgs = null)
    {
        var root = EnvtestDirectory.Create("plane");
        var plane = new ControlPlane(root, assets, apiServerArgs ?? []);
        try
        {
            await plane.StartProcessesAsync(cancellationToken);
            return plane;
        }
        catch
        {
            await plane.DisposeAsync();
            throw;
        }
    }

    public KubernetesClientConfiguration ConfigFor(string token) => new()
    {
        Host = Server.ToString(),
        AccessToken = token,
        // The serving certificate is self-signed by kube-apiserver for this loopback run.
        SkipTlsVerify = true,
    };

    private async Task StartProcessesAsync(CancellationToken cancellationToken)
    {
        var (etcd, etcdUrl) = StartEtcd(Path.Combine(Assets, "etcd"), _root, "envtest");
        _processes.Add(etcd);
        StartWatchdog();
        await WaitForEtcdAsync(etcd, etcdUrl, cancellationToken);

        using (var saKey = RSA.Create(2048))
            await File.WriteAllTextAsync(Path.Combine(_root, "sa.key"), saKey.ExportRSAPrivateKeyPem(), cancellationToken);
        await File.WriteAllLinesAsync(Path.Combine(_root, "tokens.csv"),
        [
            $"{AdminToken},envtest-admin,envtest-admin,\"system:masters\"",
            $"{OperatorToken},{OperatorUser},{OperatorUser},\"keyrotator:operators\"",
        ], cancellationToken);

        var securePort = FreePort.Next();
        Server = new Uri($"https://127.0.0.1:{securePort}");
        var apiserver = ManagedProcess.Start("kube-apiserver", Path.Combine(Assets, "kube-apiserver"),
        [
            $"--etcd-servers={etcdUrl}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            $"--secure-port={securePort}",
            "--insecure-port=0",
            $"--cert-dir={Path.Combine(_root, "certs")}",
            $"--service-account-key-file={Path.Combine(_root, "sa.key")}",
            $"--service-account-signing-key-file={Path.Combine(_root, "sa.key")}",
            "--service-account-issuer=https://kubernetes.default.svc",
            $"--token-auth-file={Path.Combine(_root, "tokens.csv")}",
            "--authorization-mode=RBAC",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--allow-privileged=true",
            .. _apiServerArgs,
        ], Path.Combine(_root, "kube-apiserver.log"));
        _processes.Add(apiserver);
        StartWatchdog();

        using var insecure = new HttpClient(new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator,
        });
        insecure.DefaultRequestHeaders.Authorization = new("Bearer", AdminToken);
        await WaitUntilAsync(apiserver, async ct =>
        {
            using var response = await insecure.GetAsync(new Uri(Server, "/readyz"), ct);
            return response.IsSuccessStatusCode;
        }, TimeSpan.FromSeconds(90), cancellationToken);

        await File.WriteAllTextAsync(AdminKubeconfigPath, Kubeconfig("envtest-admin", AdminToken), cancellationToken);
        await File.WriteAllTextAsync(OperatorKubeconfigPath, Kubeconfig(OperatorUser, OperatorToken), cancellationToken);
    }

    /// <summary>Writes a kubeconfig for the operator identity that reaches the API server at <paramref name="server"/> (a test proxy in front of it).</summary>
    public string WriteOperatorKubeconfig(string name, Uri server)
    {
        var path = Path.Combine(_root, $"{name}.kubeconfig");
        File.WriteAllText(path, Kubeconfig(OperatorUser, OperatorToken, server));
        return path;
    }

    private string Kubeconfig(string user, string token, Uri? server = null) => $"""
        apiVersion: v1
        kind: Config
        clusters:
        - name: envtest
          cluster:
            server: {server ?? Server}
            insecure-skip-tls-verify: true
        users:
        - name: {user}
          user:
            token: {token}
        contexts:
        - name: envtest
          context:
            cluster: envtest
            user: {user}
        current-context: envtest
        """;

    /// <summary>A single-member etcd on free loopback ports, its data and log under <paramref name="root"/>.</summary>
    internal static (ManagedProcess Etcd, string Url) StartEtcd(string binary, string root, string name)
    {
        var url = $"http://127.0.0.1:{FreePort.Next()}";
        var peerUrl = $"http://127.0.0.1:{FreePort.Next()}";
        var etcd = ManagedProcess.Start("etcd", binary,
        [
            "--name", name,
            "--data-dir", Path.Combine(root, "etcd"),
            "--listen-client-urls", url,
            "--advertise-client-urls", url,
            "--listen-peer-urls", peerUrl,
            "--initial-advertise-peer-urls", peerUrl,
            "--initial-cluster", $"{name}={peerUrl}",
        ], Path.Combine(root, "etcd.log"));
        return (etcd, url);
    }

    /// <summary>Waits until etcd at <paramref name="url"/> answers /health.</summary>
    internal static async Task WaitForEtcdAsync(ManagedProcess etcd, string url, CancellationToken cancellationToken)
    {
        using var http = new HttpClient();
        await WaitUntilAsync(etcd, async ct =>
        {
            using var response = await http.GetAsync(new Uri($"{url}/health"), ct);
            return response.IsSuccessStatusCode;
        }, TimeSpan.FromSeconds(30), cancellationToken);
    }

    private void StartWatchdog()
    {
        _watchdog?.Kill();
        _watchdog?.Dispose();
        _watchdog = StartWatchdog(_processes);
    }

    /// <summary>
    /// If the test host dies without disposing us (a killed or cancelled run), a detached shell
    /// notices and stops <paramref name="processes"/>, so no etcd or API server outlives the tests.
    /// </summary>
    internal static Process StartWatchdog(IEnumerable<ManagedProcess> processes)
    {
        var pids = string.Join(' ', processes.Select(p => p.Id.ToString(CultureInfo.InvariantCulture)));
        var host = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        var script = $"while kill -0 {host} 2>/dev/null; do sleep 1; done; kill -TERM {pids} 2>/dev/null; sleep 10; kill -KILL {pids} 2>/dev/null";
        return Process.Start(new ProcessStartInfo("/bin/sh", ["-c", script])
        {
            UseShellExecute = false,
            RedirectStandardOutput = false,
            RedirectStandardError = false,
        })!;
    }

    internal static async Task WaitUntilAsync(ManagedProcess process, Func<CancellationToken, Task<bool>> probe, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        while (true)
        {
            if (process.HasExited)
                throw new InvalidOperationException($"{process.Name} exited while starting; its last output:\n{process.Tail()}");
            try
            {
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token);
                attempt.CancelAfter(TimeSpan.FromSeconds(5));
                if (await probe(attempt.Token))
                    return;
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (OperationCanceledException) when (!deadline.IsCancellationRequested)
            {
                // One slow probe; try again.
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"{process.Name} was not ready within {timeout}; its last output:\n{process.Tail()}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), deadline.Token).ContinueWith(_ => { }, TaskScheduler.Default);
            if (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                throw new TimeoutException($"{process.Name} was not ready within {timeout}; its last output:\n{process.Tail()}");
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    private static string NewToken() => Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();

    public async ValueTask DisposeAsync()
    {
        // Stop the API server before etcd, the reverse of start-up.
        for (var i = _processes.Count - 1; i >= 0; i--)
            await _processes[i].DisposeAsync();
        _processes.Clear();
        if (_watchdog is { HasExited: false })
            _watchdog.Kill();
        _watchdog?.Dispose();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp directory is harmless.
        }
    }
}
