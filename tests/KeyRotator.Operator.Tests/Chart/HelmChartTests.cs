using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Chart;

/// <summary>The Helm chart, checked with a real Helm binary and the real API server.</summary>
public sealed class HelmChartTests(KubernetesEnvironment env)
{
    private static string Chart => Path.Combine(Repository.Root, "charts", "keyrotator");

    public static TheoryData<string> ValueSets => ["default", "ci/namespaced-values.yaml", "ci/monitoring-values.yaml", "ci/vaults-values.yaml", "ci/publish-targets-values.yaml"];

    [Fact]
    public void Chart_CRDs_are_byte_identical_to_config_crds()
    {
        var source = Path.Combine(Repository.Root, "config", "crds");
        foreach (var file in Directory.GetFiles(source, "*.yaml"))
            Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(Path.Combine(Chart, "crds", Path.GetFileName(file))));
        Assert.Equal(Directory.GetFiles(source).Length, Directory.GetFiles(Path.Combine(Chart, "crds")).Length);
    }

    [Theory]
    [MemberData(nameof(ValueSets))]
    public async Task Helm_lint_strict_passes(string values)
    {
        var (code, output) = await Repository.RunAsync(Repository.Helm, [.. new[] { "lint", "--strict", Chart }, .. ValuesArgs(values)]);
        Assert.True(code == 0, output);
    }

    [Fact]
    public async Task Values_schema_rejects_bad_values_with_a_message_naming_the_field()
    {
        var (code, output) = await Repository.RunAsync(Repository.Helm, "template", "kr", Chart, "--set", "operator.watchNamespaces[0]=Not_A_Namespace");
        Assert.NotEqual(0, code);
        Assert.Contains("watchNamespaces", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Vault_values_reach_the_operator_as_its_settings_and_the_schema_keeps_creates_under_Key_Vaults_limit()
    {
        var (code, output) = await Repository.RunAsync(Repository.Helm, "template", "kr", Chart, "-f", Path.Combine(Chart, "ci", "vaults-values.yaml"));
        Assert.True(code == 0, output);
        Assert.Contains("- { name: KeyRotator__AzureKeyVault__SoftwareCreatesPer10Seconds, value: \"15\" }", output, StringComparison.Ordinal);
        Assert.Contains("- { name: KeyRotator__AzureKeyVault__HsmCreatesPer10Seconds, value: \"10\" }", output, StringComparison.Ordinal);
        Assert.Contains("- { name: AZURE_ADDITIONALLY_ALLOWED_TENANTS, value: \"11111111-1111-1111-1111-111111111111\" }", output, StringComparison.Ordinal);
        Assert.Contains("azure.workload.identity/use: \"true\"", output, StringComparison.Ordinal);

        var (refused, message) = await Repository.RunAsync(Repository.Helm, "template", "kr", Chart, "--set", "operator.azureKeyVault.softwareCreatesPer10Seconds=50");
        Assert.NotEqual(0, refused);
        Assert.Contains("softwareCreatesPer10Seconds", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Publish_target_values_render_ClusterPublishTargets_and_in_namespaced_mode_a_Role_for_exactly_their_Secret()
    {
        var (code, output) = await Repository.RunAsync(Repository.Helm, "template", "kr", Chart, "--namespace", "platform", "-f", Path.Combine(Chart, "ci", "publish-targets-values.yaml"));
        Assert.True(code == 0, output);
        var documents = output.Split("\n---\n");
        var issuers = Assert.Single(documents, d => d.Contains("kind: ClusterPublishTarget", StringComparison.Ordinal) && d.Contains("name: issuers\n", StringComparison.Ordinal));
        Assert.Contains("endpoint: \"https://issuersprod.blob.core.windows.net\"", issuers, StringComparison.Ordinal);
        Assert.Contains("connectionStringSecretRef:\n      namespace: \"platform\"\n      name: \"issuers-storage\"\n      key: \"connection-string\"", issuers, StringComparison.Ordinal);
        Assert.Contains("namespaces: [\"identity\",\"payments\"]", issuers, StringComparison.Ordinal);
        Assert.Contains("publicUrl: \"https://issuers.example.com\"", issuers, StringComparison.Ordinal);
        Assert.Contains("cacheAllowance: \"5m\"", issuers, StringComparison.Ordinal);
        var partners = Assert.Single(documents, d => d.Contains("kind: ClusterPublishTarget", StringComparison.Ordinal) && d.Contains("name: partners\n", StringComparison.Ordinal));
        Assert.Contains("pathPrefix: \"shared/\"", partners, StringComparison.Ordinal);
        Assert.DoesNotContain("connectionStringSecretRef", partners, StringComparison.Ordinal);

        var role = Assert.Single(documents, d => d.Contains("kind: Role\n", StringComparison.Ordinal) && d.Contains("name: kr-keyrotator-target-issuers", StringComparison.Ordinal));
        Assert.Contains("namespace: platform", role, StringComparison.Ordinal);
        Assert.Contains("resourceNames: [\"issuers-storage\"]\n    verbs: [get]", role, StringComparison.Ordinal);
        Assert.DoesNotContain(documents, d => d.Contains("-target-partners", StringComparison.Ordinal));

        var (refused, message) = await Repository.RunAsync(Repository.Helm, "template", "kr", Chart, "--set", "publishTargets[0].name=x", "--set", "publishTargets[0].azureBlob.endpoint=https://a.example", "--set", "publishTargets[0].azureBlob.container=Not_A_Container", "--set", "publishTargets[0].namespaces[0]=payments");
        Assert.NotEqual(0, refused);
        Assert.Contains("container", message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(ValueSets))]
    public async Task Rendered_manifests_are_accepted_by_the_api_server(string values)
    {
        var ct = TestContext.Current.CancellationToken;
        Assert.SkipWhen(env.ControlPlane is null, "needs the envtest control plane's kubeconfig");
        var ns = await env.CreateNamespaceAsync("chart", ct);
        foreach (var watched in new[] { "identity", "payments" })
            await EnsureNamespaceAsync(watched);
        await EnsureMonitoringCrdsAsync();

        var rendered = Path.Combine(Path.GetTempPath(), $"keyrotator-chart-{Guid.NewGuid():N}.yaml");
        var (code, output) = await Repository.RunAsync(Repository.Helm, [.. new[] { "template", "kr", Chart, "--namespace", ns, "--kube-version", "1.20.2" }, .. ValuesArgs(values)]);
        Assert.True(code == 0, output);
        await File.WriteAllTextAsync(rendered, output, ct);

        var (applied, result) = await Repository.RunAsync(Repository.Kubectl, "--kubeconfig", env.ControlPlane!.AdminKubeconfigPath, "apply", "--dry-run=server", "-f", rendered);
        File.Delete(rendered);
        Assert.True(applied == 0, result);
        Assert.Contains("deployment.apps/kr-keyrotator created (server dry run)", result, StringComparison.Ordinal);
    }

    private static string[] ValuesArgs(string values) => values == "default" ? [] : ["-f", Path.Combine(Chart, values)];

    private async Task EnsureNamespaceAsync(string name)
    {
        try
        {
            await env.Admin.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = name } });
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
        }
    }

    /// <summary>The Prometheus operator's CRDs, reduced to what a server-side dry run needs.</summary>
    private async Task EnsureMonitoringCrdsAsync()
    {
        foreach (var (plural, kind) in new[] { ("servicemonitors", "ServiceMonitor"), ("prometheusrules", "PrometheusRule") })
        {
            try
            {
                await env.Admin.ApiextensionsV1.CreateCustomResourceDefinitionAsync(new V1CustomResourceDefinition
                {
                    Metadata = new V1ObjectMeta { Name = $"{plural}.monitoring.coreos.com" },
                    Spec = new V1CustomResourceDefinitionSpec
                    {
                        Group = "monitoring.coreos.com",
                        Scope = "Namespaced",
                        Names = new V1CustomResourceDefinitionNames { Plural = plural, Kind = kind, Singular = kind.ToLowerInvariant() },
                        Versions =
                        [
                            new V1CustomResourceDefinitionVersion
                            {
                                Name = "v1",
                                Served = true,
                                Storage = true,
                                Schema = new V1CustomResourceValidation
                                {
                                    OpenAPIV3Schema = new V1JSONSchemaProps { Type = "object", XKubernetesPreserveUnknownFields = true },
                                },
                            },
                        ],
                    },
                });
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
            {
            }
        }

        await Eventually.HoldsAsync(() => env.Admin.ApiextensionsV1.ReadCustomResourceDefinitionAsync("prometheusrules.monitoring.coreos.com"),
            c => c.Status?.Conditions?.Any(x => x.Type == "Established" && x.Status == "True") == true, TimeSpan.FromSeconds(10), "monitoring CRDs established");
    }
}
