// Longer than 300 lines: starting, sharing and tearing down the control plane are one lifetime.
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using k8s;
using k8s.Autorest;
using k8s.Models;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Informers;
using Xunit;

namespace KeyRotator.Testing;

/// <summary>
/// The Kubernetes API server that integration tests run against, shared by every test in an assembly:
/// the envtest control plane by default, or the cluster named by KEYROTATOR_TEST_KUBECONFIG.
/// The CRDs from config/crds are installed once; each test takes a namespace of its own.
/// </summary>
public sealed class KubernetesEnvironment : IAsyncLifetime
{
    private string[] _apiServerArgs = [];

    /// <summary>
    /// An environment of a test's own (initialize and dispose it in the test) on a control plane whose
    /// kube-apiserver runs with <paramref name="flags"/> besides the usual ones.
    /// </summary>
    public static KubernetesEnvironment WithApiServerFlags(params string[] flags) => new() { _apiServerArgs = flags };

    public const string ExternalKubeconfigVariable = "KEYROTATOR_TEST_KUBECONFIG";

    private static int _environments;

    /// <summary>
    /// Who this environment is in the leak report: hack/test.sh passes a run only when every environment
    /// that wrote "started &lt;id&gt;" also wrote "clean &lt;id&gt;: …", so one environment's clean scan never
    /// stands in for another's that did not run.
    /// </summary>
    private readonly string _id = $"{System.Reflection.Assembly.GetEntryAssembly()?.GetName().Name ?? "tests"} environment {Interlocked.Increment(ref _environments)} (pid {Environment.ProcessId})";

    private readonly List<string> _namespaces = [];
    private readonly List<CapturedLogs> _operatorLogs = [];
    private readonly SecretLeakScanner _scanner = new();
    private readonly CancellationTokenSource _stopLearning = new();
    private Task _learning = Task.CompletedTask;
    private ControlPlane? _controlPlane;

    /// <summary>A client with cluster-admin rights, for arranging and observing tests.</summary>
    public IKubernetes Admin { get; private set; } = null!;

    public KubernetesClientConfiguration AdminConfig { get; private set; } = null!;

    /// <summary>The envtest control plane, or null when the tests run against an external cluster.</summary>
    public ControlPlane? ControlPlane => _controlPlane;

    /// <summary>Where the tests run, for failure messages.</summary>
    public string Description { get; private set; } = "";

    public async ValueTask InitializeAsync()
    {
        // First of all, so that an environment that fails to start is still owed a verdict.
        if (Environment.GetEnvironmentVariable("KEYROTATOR_LEAK_REPORT") is { Length: > 0 } leakReport)
            await File.AppendAllTextAsync(leakReport, $"started {_id}\n");
        using var startup = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        // A test that asks for kube-apiserver flags of its own always gets a control plane of its own.
        if (_apiServerArgs.Length == 0 && Environment.GetEnvironmentVariable(ExternalKubeconfigVariable) is { Length: > 0 } kubeconfig)
        {
            AdminConfig = KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig);
            Description = $"the cluster in {kubeconfig}";
        }
        else
        {
            var assets = ControlPlane.FindAssets() ?? throw new InvalidOperationException(
                "No etcd and kube-apiserver for the integration tests. Run `eval \"$(hack/envtest-assets.sh)\"` " +
                "(builds them once on Debian and caches them), point KUBEBUILDER_ASSETS at a directory holding both " +
                "(for example from setup-envtest), or set " + ExternalKubeconfigVariable + " to test against an existing cluster.");
            _controlPlane = await ControlPlane.StartAsync(assets, startup.Token, _apiServerArgs);
            AdminConfig = _controlPlane.ConfigFor(_controlPlane.AdminToken);
            Description = $"envtest control plane at {_controlPlane.Server} (binaries in {assets})";
        }

        Admin = new Kubernetes(AdminConfig);
        await InstallCrdsAsync(startup.Token);
        if (_controlPlane is not null)
            await BindOperatorRoleAsync(startup.Token);
        _learning = LearnPrivateKeysAsync(_stopLearning.Token);
    }

    /// <summary>Every private key any operator in this run made, learnt from the Secrets it wrote.</summary>
    public SecretLeakScanner Scanner => _scanner;

    /// <summary>Registers an operator's log lines for the end-of-run scan for leaked key material.</summary>
    public void TrackLogs(CapturedLogs logs)
    {
        lock (_operatorLogs)
            _operatorLogs.Add(logs);
    }

    /// <summary>
    /// Registers something the operator or the CLI printed to a caller (an HTTP JWKS or discovery answer,
    /// /metrics, a CLI command's output) for the end-of-run scan for leaked key material.
    /// </summary>
    public void TrackOutput(string where, string text)
    {
        lock (_outputs)
            _outputs.Add((where, text));
    }

    private readonly List<(string Where, string Text)> _outputs = [];

    /// <summary>Failures of the watch that learns private keys: each one is a gap the scan cannot vouch for.</summary>
    private readonly List<string> _watchErrors = [];

    /// <summary>
    /// Watches every managed Secret for the whole run and learns each private key in it, so that the
    /// final scan knows keys that were retired (and dropped from their Secret) long before the end.
    /// </summary>
    private async Task LearnPrivateKeysAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await foreach (var (_, secret) in Admin.WatchAsync<V1Secret>(
                    WatchRequest.Core("secrets", null) with { LabelSelector = KeyRotator.Model.Kubernetes.Labels.ManagedBySelector }, cancellationToken: cancellationToken))
                {
                    foreach (var value in secret.Data?.Values ?? [])
                        _scanner.LearnFromSecretValue(System.Text.Encoding.UTF8.GetString(value));
                }
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                // Opened again, it lists every Secret anew; but a key made and dropped in the gap would be
                // unknown to the scan, so the scan does not call itself clean (see the report below).
                lock (_watchErrors)
                    _watchErrors.Add($"{DateTimeOffset.UtcNow:HH:mm:ss.fff} {e.GetType().Name}: {e.Message}");
                await Task.Delay(200, CancellationToken.None);
            }
            catch (Exception)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Invariant 4 over the whole run: no private key parameter in any operator log line, Event,
    /// SigningKeySet status or managed ConfigMap in any test namespace.
    /// </summary>
    private async Task AssertNoKeyMaterialLeakedAsync()
    {
        await _stopLearning.CancelAsync();
        await _learning;
        List<string> lines;
        lock (_operatorLogs)
            lines = [.. _operatorLogs.SelectMany(l => l.Lines)];
        string[] namespaces;
        lock (_namespaces)
            namespaces = [.. _namespaces];
        List<(string Where, string Text)> outputs;
        lock (_outputs)
            outputs = [.. _outputs];
        var leaks = _scanner.Find([.. await SecretLeakScanner.CollectAsync(Admin, namespaces, lines), .. outputs]);
        var report = Environment.GetEnvironmentVariable("KEYROTATOR_LEAK_REPORT");
        if (report is { Length: > 0 })
        {
            string[] gaps;
            lock (_watchErrors)
                gaps = [.. _watchErrors];
            await File.AppendAllTextAsync(report, leaks.Count > 0
                ? $"LEAKED {_id}: {string.Join("; ", leaks.Take(20))}\n"
                : gaps.Length > 0
                ? $"incomplete {_id}: the watch that learns private keys failed {gaps.Length} time(s), so keys made meanwhile may be unknown to the scan: {string.Join("; ", gaps.Take(5))}\n"
                : $"clean {_id}: {_scanner.KnownKeys} private keys searched for in {lines.Count} log lines, {outputs.Count} HTTP answers and CLI outputs, and {namespaces.Length} namespaces\n");
        }

        if (leaks.Count > 0)
            throw new InvalidOperationException($"private key material leaked ({_scanner.KnownKeys} keys known):\n" + string.Join('\n', leaks.Take(20)));
    }

    /// <summary>
    /// The identity the operator runs as in tests: on the envtest control plane a user bound to exactly
    /// the ClusterRole in config/rbac (so the tests prove the operator's RBAC); elsewhere the admin.
    /// </summary>
    public KubernetesClientConfiguration OperatorConfig =>
        _controlPlane is null ? AdminConfig : _controlPlane.ConfigFor(_controlPlane.OperatorToken);

    private async Task BindOperatorRoleAsync(CancellationToken cancellationToken)
    {
        var reporter = TestYaml.Deserialize<V1ClusterRole>(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "rbac", "reporter-role.yaml"), cancellationToken));
        await Admin.RbacAuthorizationV1.CreateClusterRoleAsync(reporter, cancellationToken: cancellationToken);
        var role = TestYaml.Deserialize<V1ClusterRole>(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "rbac", "role.yaml"), cancellationToken));
        await Admin.RbacAuthorizationV1.CreateClusterRoleAsync(role, cancellationToken: cancellationToken);
        await Admin.RbacAuthorizationV1.CreateClusterRoleBindingAsync(new V1ClusterRoleBinding
        {
            Metadata = new V1ObjectMeta { Name = role.Metadata.Name },
            RoleRef = new V1RoleRef { ApiGroup = "rbac.authorization.k8s.io", Kind = "ClusterRole", Name = role.Metadata.Name },
            Subjects = [new Rbacv1Subject { ApiGroup = "rbac.authorization.k8s.io", Kind = "User", Name = ControlPlane.OperatorUser }],
        }, cancellationToken: cancellationToken);
    }

    /// <summary>Creates a namespace that belongs to one test.</summary>
    public Task<string> CreateNamespaceAsync(string prefix, CancellationToken cancellationToken = default) => CreateNamespaceAsync(prefix, null, cancellationToken);

    public async Task<string> CreateNamespaceAsync(string prefix, IDictionary<string, string>? annotations, CancellationToken cancellationToken = default)
    {
        var suffix = Convert.ToHexString(RandomNumberGenerator.GetBytes(3)).ToLowerInvariant();
        var name = $"{prefix}-{suffix}".ToLowerInvariant();
        if (name.Length > 63)
            name = name[^63..].TrimStart('-');
        await Admin.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = name, Annotations = annotations } }, cancellationToken: cancellationToken);
        lock (_namespaces)
            _namespaces.Add(name);
        return name;
    }

    /// <summary>A namespace whose owner accepts JWKS copies from <paramref name="source"/> (annotation keyrotator.io/accept-jwks-from).</summary>
    public Task<string> CreateNamespaceAcceptingJwksFromAsync(string prefix, string source, CancellationToken cancellationToken = default) =>
        CreateNamespaceAsync(prefix, new Dictionary<string, string> { ["keyrotator.io/accept-jwks-from"] = source }, cancellationToken);

    /// <summary>
    /// What the platform team does for a namespace that may use a vault: a ClusterKeyVault granting the
    /// Azure Key Vault or PKCS#11 token to <paramref name="ns"/> (idempotent).
    /// </summary>
    public async Task GrantVaultAsync(string ns, AzureKeyVaultGrant? azure = null, Pkcs11Grant? pkcs11 = null, CancellationToken cancellationToken = default)
    {
        var what = azure?.VaultUri ?? $"{pkcs11?.Library}/{pkcs11?.TokenLabel}";
        var name = $"grant-{ns}-{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(what)))[..8]}";
        try
        {
            await Admin.CustomObjects.CreateClusterCustomObjectAsync(new V1Alpha1ClusterKeyVault
            {
                Metadata = new V1ObjectMeta { Name = name },
                Spec = new ClusterKeyVaultSpec { AzureKeyVault = azure, Pkcs11 = pkcs11, Namespaces = [ns] },
            }, V1Alpha1SigningKeySet.Group, V1Alpha1SigningKeySet.Version, V1Alpha1ClusterKeyVault.Plural, cancellationToken: cancellationToken);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
        }
    }

    public static string CrdDirectory => Path.Combine(AppContext.BaseDirectory, "crds");

    private async Task InstallCrdsAsync(CancellationToken cancellationToken)
    {
        var files = Directory.GetFiles(CrdDirectory, "*.yaml");
        if (files.Length == 0)
            throw new InvalidOperationException($"no CRDs found in {CrdDirectory}");
        foreach (var file in files)
        {
            var crd = TestYaml.Deserialize<V1CustomResourceDefinition>(await File.ReadAllTextAsync(file, cancellationToken));
            try
            {
                await Admin.ApiextensionsV1.CreateCustomResourceDefinitionAsync(crd, cancellationToken: cancellationToken);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
            {
                var existing = await Admin.ApiextensionsV1.ReadCustomResourceDefinitionAsync(crd.Metadata.Name, cancellationToken: cancellationToken);
                crd.Metadata.ResourceVersion = existing.Metadata.ResourceVersion;
                await Admin.ApiextensionsV1.ReplaceCustomResourceDefinitionAsync(crd, crd.Metadata.Name, cancellationToken: cancellationToken);
            }

            await WaitForEstablishedAsync(crd.Metadata.Name, cancellationToken);
        }
    }

    private async Task WaitForEstablishedAsync(string name, CancellationToken cancellationToken)
    {
        while (true)
        {
            var crd = await Admin.ApiextensionsV1.ReadCustomResourceDefinitionAsync(name, cancellationToken: cancellationToken);
            if (crd.Status?.Conditions?.Any(c => c.Type == "Established" && c.Status == "True") == true)
                return;
            await Task.Delay(100, cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (Admin is not null)
                await AssertNoKeyMaterialLeakedAsync();
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("KEYROTATOR_LEAK_REPORT") is { Length: > 0 } report && e is not InvalidOperationException)
        {
            await File.AppendAllTextAsync(report, $"ERROR {_id}: the leak scan could not run: {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}\n");
            throw;
        }
        finally
        {
            await StopAsync();
        }
    }

    private async Task StopAsync()
    {
        _stopLearning.Dispose();
        if (_controlPlane is null && Admin is not null)
        {
            // On an external cluster, leave nothing behind. (envtest has no namespace controller; its
            // whole etcd goes away instead.)
            foreach (var ns in _namespaces)
            {
                try
                {
                    await Admin.CoreV1.DeleteNamespaceAsync(ns);
                }
                catch (HttpOperationException)
                {
                    // Already gone.
                }
            }
        }

        Admin?.Dispose();
        if (_controlPlane is not null)
            await _controlPlane.DisposeAsync();
    }

    public override string ToString() => Description.ToString(CultureInfo.InvariantCulture);
}
