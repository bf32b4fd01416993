using k8s;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Crd;

/// <summary>Every sample a user may copy is accepted by the API server as written.</summary>
public sealed class SampleTests(KubernetesEnvironment env)
{
    public static TheoryData<string> Samples()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "samples"), "*.yaml").Order(StringComparer.Ordinal))
            data.Add(Path.GetFileName(file));
        return data;
    }

    [Fact]
    public void Samples_cover_rsa_ec_and_every_vault_provider()
    {
        var specs = Samples().Select(row => Load(row.Data)).Select(s => s.Spec).ToList();

        Assert.Contains(specs, s => s.Algorithm.StartsWith("RS", StringComparison.Ordinal) || s.Algorithm.StartsWith("PS", StringComparison.Ordinal));
        Assert.Contains(specs, s => s.Algorithm.StartsWith("ES", StringComparison.Ordinal));
        foreach (var provider in new[] { "Kubernetes", "AzureKeyVault", "Pkcs11" })
            Assert.Contains(specs, s => (s.Vault?.Provider ?? "Kubernetes") == provider);
    }

    [Theory]
    [MemberData(nameof(Samples))]
    public async Task Sample_is_accepted_by_the_api_server(string file)
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("sample", ct);
        var sample = Load(file);
        sample.Metadata.NamespaceProperty = ns;

        var created = await new SigningKeySetClient(env.Admin).CreateAsync(sample, ct);

        Assert.Equal(sample.Spec.Algorithm, created.Spec.Algorithm);
        Assert.NotNull(created.Metadata.Uid);
    }

    private static V1Alpha1SigningKeySet Load(string file) =>
        KubernetesYaml.Deserialize<V1Alpha1SigningKeySet>(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "samples", file)));
}
