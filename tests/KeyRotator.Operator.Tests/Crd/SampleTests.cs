using System.Text.Json;
using k8s;
using k8s.Models;
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
        Assert.Equal(sample.Spec.ServiceAccountIssuer, created.Spec.ServiceAccountIssuer);
        Assert.NotNull(created.Metadata.Uid);
    }

    public static TheoryData<string> PlatformSamples()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "samples", "platform"), "*.yaml").Order(StringComparer.Ordinal))
            data.Add(Path.GetFileName(file));
        return data;
    }

    [Fact]
    public void Platform_samples_cover_a_vault_grant_and_a_publish_target_with_its_credentials_Secret()
    {
        var kinds = PlatformSamples().SelectMany(row => Documents(row.Data)).Select(d => (string)d["kind"]).ToList();

        Assert.Contains(V1Alpha1ClusterKeyVault.KindName, kinds);
        Assert.Contains(V1Alpha1ClusterPublishTarget.KindName, kinds);
        Assert.Contains("Secret", kinds);
    }

    /// <summary>
    /// Every object of a platform sample, sent as written (a dry run: the objects are cluster-scoped), is accepted,
    /// and the API server keeps every field of its spec: a misspelt field, which a 1.20 API server prunes without a
    /// word, fails here.
    /// </summary>
    [Theory]
    [MemberData(nameof(PlatformSamples))]
    public async Task Platform_sample_is_accepted_by_the_api_server_with_every_field_kept(string file)
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("platform-sample", ct);
        foreach (var document in Documents(file))
        {
            var kind = (string)document["kind"];
            if (kind == "Secret")
            {
                var secret = KubernetesJson.Deserialize<V1Secret>(JsonSerializer.Serialize(document));
                secret.Metadata.NamespaceProperty = ns;
                var created = await env.Admin.CoreV1.CreateNamespacedSecretAsync(secret, ns, dryRun: "All", cancellationToken: ct);
                Assert.Equal(secret.StringData.Keys, created.Data.Keys);
                continue;
            }

            var plural = kind switch
            {
                V1Alpha1ClusterKeyVault.KindName => V1Alpha1ClusterKeyVault.Plural,
                V1Alpha1ClusterPublishTarget.KindName => V1Alpha1ClusterPublishTarget.Plural,
                _ => throw new InvalidOperationException($"{file}: no test for kind {kind}"),
            };
            var sent = JsonSerializer.SerializeToElement(document);
            var answer = await env.Admin.CustomObjects.CreateClusterCustomObjectAsync(document, V1Alpha1SigningKeySet.Group, V1Alpha1SigningKeySet.Version, plural, dryRun: "All", cancellationToken: ct);
            var kept = JsonSerializer.SerializeToElement(answer);
            AssertKept(sent.GetProperty("spec"), kept.GetProperty("spec"), $"{file}: {kind} {((Dictionary<string, object>)document["metadata"])["name"]}.spec");
        }
    }

    private static void AssertKept(JsonElement sent, JsonElement kept, string path)
    {
        if (sent.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in sent.EnumerateObject())
            {
                var value = default(JsonElement);
                Assert.True(kept.ValueKind == JsonValueKind.Object && kept.TryGetProperty(property.Name, out value), $"{path}.{property.Name} was dropped by the API server (not in the CRD's schema?)");
                AssertKept(property.Value, value, $"{path}.{property.Name}");
            }
        }
        else
        {
            Assert.True(sent.ToString() == kept.ToString(), $"{path}: sent {sent}, the API server kept {kept}");
        }
    }

    /// <summary>The YAML documents of a platform sample, as plain dictionaries (nothing a typed model would drop).</summary>
    private static List<Dictionary<string, object>> Documents(string file)
    {
        var text = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "samples", "platform", file));
        var deserializer = new YamlDotNet.Serialization.DeserializerBuilder().Build();
        return [.. text.Split("\n---\n")
            .Select(part => deserializer.Deserialize<object>(part))
            .OfType<Dictionary<object, object>>()
            .Select(d => (Dictionary<string, object>)Plain(d))];
    }

    private static object Plain(object value) => value switch
    {
        Dictionary<object, object> map => map.ToDictionary(e => (string)e.Key, e => Plain(e.Value)),
        List<object> list => list.Select(Plain).ToList(),
        _ => value,
    };

    private static V1Alpha1SigningKeySet Load(string file) =>
        TestYaml.Deserialize<V1Alpha1SigningKeySet>(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "samples", file)));
}
