using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using k8s;

namespace KeyRotator.Testing;

/// <summary>
/// Kubernetes 1.36's CRD server (k8s.io/apiextensions-apiserver, built by hack/crd-server.sh from
/// Debian sid's sources) on an etcd 3.5 of its own, on free loopback ports. It serves
/// CustomResourceDefinitions and custom resources with the validation a full 1.36 kube-apiserver runs,
/// CEL rules and transition rules included; it has no core API, no RBAC and no tokens, so the one
/// client is an administrator's client certificate (O=system:masters) from a CA made here.
/// </summary>
public sealed class CrdServer : IAsyncDisposable
{
    public const string Version = "1.36.4";

    private readonly string _root;
    private readonly List<ManagedProcess> _processes = [];
    private Process? _watchdog;

    private CrdServer(string root) => _root = root;

    public Uri Server { get; private set; } = null!;

    /// <summary>A client with the administrator's certificate.</summary>
    public Kubernetes Client { get; private set; } = null!;

    /// <summary>The directory holding apiextensions-apiserver and etcd: KEYROTATOR_CRD_SERVER, else the cache hack/crd-server.sh fills.</summary>
    public static string? FindBinaries()
    {
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable("KEYROTATOR_CRD_SERVER") is { Length: > 0 } given)
            candidates.Add(given);
        var cacheRoot = Environment.GetEnvironmentVariable("KEYROTATOR_CACHE_DIR")
            ?? Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME")
                ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "keyrotator");
        candidates.Add(Path.Combine(cacheRoot, "crd-server", $"v{Version}"));
        return candidates.FirstOrDefault(d => File.Exists(Path.Combine(d, "apiextensions-apiserver")) && File.Exists(Path.Combine(d, "etcd")));
    }

    public static async Task<CrdServer> StartAsync(string binaries, CancellationToken cancellationToken)
    {
        var server = new CrdServer(EnvtestDirectory.Create("crd"));
        try
        {
            await server.StartProcessesAsync(binaries, cancellationToken);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    private async Task StartProcessesAsync(string binaries, CancellationToken cancellationToken)
    {
        var (etcd, etcdUrl) = ControlPlane.StartEtcd(Path.Combine(binaries, "etcd"), _root, "crd-server");
        _processes.Add(etcd);
        _watchdog = ControlPlane.StartWatchdog(_processes);
        await ControlPlane.WaitForEtcdAsync(etcd, etcdUrl, cancellationToken);

        // The client CA and the administrator's certificate; the server makes its own serving certificate.
        var (from, until) = (DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=keyrotator-test-ca", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        using var ca = caRequest.CreateSelfSigned(from, until);
        using var adminKey = RSA.Create(2048);
        var adminRequest = new CertificateRequest("CN=keyrotator-test-admin, O=system:masters", adminKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        adminRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        using var admin = adminRequest.Create(ca, from, until.AddMinutes(-1), RandomNumberGenerator.GetBytes(16));
        var caPath = Path.Combine(_root, "client-ca.crt");
        await File.WriteAllTextAsync(caPath, ca.ExportCertificatePem(), cancellationToken);
        var adminCertPem = admin.ExportCertificatePem();
        var adminKeyPem = adminKey.ExportRSAPrivateKeyPem();

        // The server wants kubeconfigs for the core API and for delegated authentication and authorization;
        // none of them is reachable, and none is needed: client certificates authenticate locally and
        // system:masters is always authorized.
        var nowhere = Path.Combine(_root, "nowhere.kubeconfig");
        await File.WriteAllTextAsync(nowhere, """
            apiVersion: v1
            kind: Config
            clusters:
            - name: nowhere
              cluster:
                server: https://127.0.0.1:1
                insecure-skip-tls-verify: true
            users:
            - name: nobody
              user:
                token: none
            contexts:
            - name: nowhere
              context: {cluster: nowhere, user: nobody}
            current-context: nowhere
            """, cancellationToken);

        var port = FreePort.Next();
        Server = new Uri($"https://127.0.0.1:{port}");
        var apiserver = ManagedProcess.Start("apiextensions-apiserver", Path.Combine(binaries, "apiextensions-apiserver"),
        [
            $"--etcd-servers={etcdUrl}",
            "--bind-address=127.0.0.1",
            $"--secure-port={port}",
            $"--cert-dir={Path.Combine(_root, "certs")}",
            $"--client-ca-file={caPath}",
            $"--kubeconfig={nowhere}",
            $"--authentication-kubeconfig={nowhere}",
            "--authentication-skip-lookup",
            $"--authorization-kubeconfig={nowhere}",
            "--disable-admission-plugins=NamespaceLifecycle,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy,MutatingAdmissionPolicy",
        ], Path.Combine(_root, "apiextensions-apiserver.log"));
        _processes.Add(apiserver);
        _watchdog.Kill();
        _watchdog.Dispose();
        _watchdog = ControlPlane.StartWatchdog(_processes);

        var config = new KubernetesClientConfiguration
        {
            Host = Server.ToString(),
            ClientCertificateData = Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes(adminCertPem)),
            ClientCertificateKeyData = Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes(adminKeyPem)),
            // The serving certificate is self-signed by the server for this loopback run.
            SkipTlsVerify = true,
        };
        Client = new Kubernetes(config);

        // /readyz's informer-sync check never passes without a core API; everything else must.
        await ControlPlane.WaitUntilAsync(apiserver, async ct =>
        {
            var answer = await Client.HttpClient.GetAsync(new Uri(Server, "/readyz?exclude=informer-sync"), ct);
            return answer.IsSuccessStatusCode;
        }, TimeSpan.FromSeconds(60), cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
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
