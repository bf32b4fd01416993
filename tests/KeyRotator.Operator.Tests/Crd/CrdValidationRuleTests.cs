using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Crd;

/// <summary>
/// The CRDs on a real Kubernetes 1.36 CRD server (<see cref="CrdServer"/>): both are accepted (their CEL
/// rules compile within the cost limits), and each CEL rule of the SigningKeySet CRD refuses what it must
/// and accepts what it must, as transition rules on spec updates and on status writes. The 1.20 control
/// plane of the other tests ignores x-kubernetes-validations; there the operator's InvalidSpec check
/// enforces the same (SafetyTests).
/// </summary>
public sealed class CrdValidationRuleTests(CrdValidationRuleTests.Server server) : IClassFixture<CrdValidationRuleTests.Server>
{
    private const string Sets = "/apis/keyrotator.io/v1alpha1/namespaces/default/signingkeysets";

    private static readonly JsonObject Pinned = Obj(("keyParameters", Obj(("algorithm", "ES256"), ("vault", "Pkcs11 token=t"))));
    private static readonly JsonObject Hsm = Obj(("provider", "Pkcs11"), ("pkcs11", Obj(("library", "/usr/lib/softhsm/libsofthsm2.so"), ("tokenLabel", "t"), ("pinSecretRef", Obj(("name", "hsm-pin"), ("key", "pin"))))));
    private static readonly JsonObject Akv = Obj(("provider", "AzureKeyVault"), ("azureKeyVault", Obj(("vaultUri", "https://a.vault.azure.net"), ("keyName", "k"))));

    public static TheoryData<string, string?> Edits() => new()
    {
        // the case (its objects are in Case), and the message of the rule expected to refuse it, or null
        { "an unchanged set", null },
        { "an algorithm change before any key exists", null },
        { "an algorithm change once keys exist", "spec.algorithm cannot change" },
        { "an RSA key size change", "spec.rsaKeySize cannot change" },
        { "setting an RSA key size that was unset", "spec.rsaKeySize cannot change" },
        { "removing an RSA key size that was set", "spec.rsaKeySize cannot change" },
        { "another PIN Secret on the same token", null },
        { "another PKCS#11 token", "spec.vault (provider, Azure vault and key, PKCS#11 token) cannot change" },
        { "another provider", "spec.vault (provider, Azure vault and key, PKCS#11 token) cannot change" },
        { "a vault where there was none", "spec.vault (provider, Azure vault and key, PKCS#11 token) cannot change" },
        { "another Azure key", "spec.vault (provider, Azure vault and key, PKCS#11 token) cannot change" },
        { "another Azure vault", "spec.vault (provider, Azure vault and key, PKCS#11 token) cannot change" },
        { "other edits (rotation, signing Secret name, revocations)", null },
        { "a status update", null },
        { "an algorithm change in the same write as status", "spec.algorithm cannot change" },
    };

    /// <summary>The old and new objects of each case (kept here so the theory's data stays serializable).</summary>
    private static (JsonObject OldSpec, JsonObject? OldStatus, JsonObject NewSpec, JsonObject? NewStatus, bool ViaStatus) Case(string name)
    {
        var es = Spec("ES256", vault: Hsm);
        return name switch
        {
            "an unchanged set" => (es, Pinned, es, null, false),
            "an algorithm change before any key exists" => (es, null, With(es, ("algorithm", "RS256")), null, false),
            "an algorithm change once keys exist" => (es, Pinned, With(es, ("algorithm", "RS256")), null, false),
            "an RSA key size change" => (Spec("RS256", 2048), Pinned, Spec("RS256", 4096), null, false),
            "setting an RSA key size that was unset" => (Spec("RS256"), Pinned, Spec("RS256", 4096), null, false),
            "removing an RSA key size that was set" => (Spec("RS256", 4096), Pinned, Spec("RS256"), null, false),
            "another PIN Secret on the same token" => (es, Pinned, With(es, ("vault", Pkcs11(("pinSecretRef", Obj(("name", "new-pin"), ("key", "pin")))))), null, false),
            "another PKCS#11 token" => (es, Pinned, With(es, ("vault", Pkcs11(("tokenLabel", "other")))), null, false),
            "another provider" => (es, Pinned, With(es, ("vault", Obj(("provider", "Kubernetes")))), null, false),
            "a vault where there was none" => (Spec("ES256"), Pinned, es, null, false),
            "another Azure key" => (Spec("ES256", vault: Akv), Pinned, Spec("ES256", vault: Azure(("keyName", "k2"))), null, false),
            "another Azure vault" => (Spec("ES256", vault: Akv), Pinned, Spec("ES256", vault: Azure(("vaultUri", "https://b.vault.azure.net"))), null, false),
            "other edits (rotation, signing Secret name, revocations)" => (Spec("ES256"), Pinned,
                With(Spec("ES256"), ("signingSecretName", "x"), ("revokedKeyIds", new JsonArray(new string('k', 43))), ("rotation", Obj(("interval", "24h"), ("prePublish", "1h")))), null, false),
            "a status update" => (es, Pinned, es, With(Pinned, ("activeKeyId", "abc")), true),
            "an algorithm change in the same write as status" => (es, Pinned, With(es, ("algorithm", "ES384")), With(Pinned, ("activeKeyId", "abc")), false),
            _ => throw new ArgumentException(name),
        };
    }

    [Fact]
    public async Task Both_CRDs_are_accepted_and_established_by_a_Kubernetes_1_36_API_server()
    {
        var ct = TestContext.Current.CancellationToken;
        // The server has no /version endpoint; the build stamps the version into the binary.
        Assert.True(server.StampedWithVersion, $"the CRD server binary does not carry v{CrdServer.Version}");
        foreach (var name in new[] { "signingkeysets.keyrotator.io", "clusterkeyvaults.keyrotator.io" })
        {
            var crd = await server.Client.ApiextensionsV1.ReadCustomResourceDefinitionAsync(name, cancellationToken: ct);
            Assert.Contains(crd.Status.Conditions, c => c.Type == "Established" && c.Status == "True");
            Assert.DoesNotContain(crd.Status.Conditions ?? [], c => c.Type == "NonStructuralSchema" && c.Status == "True");
        }
    }

    [Theory]
    [MemberData(nameof(Edits))]
    public async Task Each_rule_refuses_what_it_must_and_accepts_the_rest(string name, string? refusedWith)
    {
        var ct = TestContext.Current.CancellationToken;
        var (oldSpec, oldStatus, newSpec, newStatus, viaStatus) = Case(name);
        var objectName = $"case-{Guid.NewGuid():N}"[..20];

        var (created, createdBody) = await server.SendAsync(HttpMethod.Post, Sets, Obj(("apiVersion", "keyrotator.io/v1alpha1"), ("kind", "SigningKeySet"), ("metadata", Obj(("name", objectName))), ("spec", oldSpec.DeepClone())), ct);
        Assert.True(created == HttpStatusCode.Created, $"creating the old object: {created} {createdBody}");
        if (oldStatus is not null)
        {
            var current = (await server.SendAsync(HttpMethod.Get, $"{Sets}/{objectName}", null, ct)).Body!.AsObject();
            current["status"] = oldStatus.DeepClone();
            var (pinned, pinnedBody) = await server.SendAsync(HttpMethod.Put, $"{Sets}/{objectName}/status", current, ct);
            Assert.True(pinned == HttpStatusCode.OK, $"writing the old status: {pinned} {pinnedBody}");
        }

        var edited = (await server.SendAsync(HttpMethod.Get, $"{Sets}/{objectName}", null, ct)).Body!.AsObject();
        edited["spec"] = newSpec.DeepClone();
        if (newStatus is not null)
            edited["status"] = newStatus.DeepClone();
        var (code, body) = await server.SendAsync(HttpMethod.Put, viaStatus ? $"{Sets}/{objectName}/status" : $"{Sets}/{objectName}", edited, ct);

        if (refusedWith is null)
        {
            Assert.True(code == HttpStatusCode.OK, $"{name}: expected the edit to be accepted, got {code} {body}");
            return;
        }

        Assert.True(code == HttpStatusCode.UnprocessableEntity, $"{name}: expected 422, got {code} {body}");
        var message = body?["message"]?.GetValue<string>() ?? "";
        Assert.Contains(refusedWith, message, StringComparison.Ordinal);
        Assert.Contains("revert it, or create a new SigningKeySet", message, StringComparison.Ordinal);
        // Exactly one rule refuses: the causes name one x-kubernetes-validations failure.
        var causes = body?["details"]?["causes"]?.AsArray() ?? [];
        Assert.Single(causes);
    }

    [Theory]
    [InlineData("5m", null)]
    [InlineData("24h", null)]
    [InlineData("1s", null)]
    [InlineData("10000h", "spec.signatureFailureAlert.window must be between 1s and 24h")]
    [InlineData("500ms", "spec.signatureFailureAlert.window must be between 1s and 24h")]
    public async Task The_alert_window_is_held_between_one_second_and_a_day(string window, string? refusedWith)
    {
        var ct = TestContext.Current.CancellationToken;
        var spec = With(Spec("ES256"), ("signatureFailureAlert", Obj(("window", window))));
        var (code, body) = await server.SendAsync(HttpMethod.Post, Sets, Obj(("apiVersion", "keyrotator.io/v1alpha1"), ("kind", "SigningKeySet"), ("metadata", Obj(("name", $"window-{Guid.NewGuid():N}"[..20]))), ("spec", spec)), ct);

        if (refusedWith is null)
        {
            Assert.True(code == HttpStatusCode.Created, $"{window}: expected the set to be accepted, got {code} {body}");
            return;
        }

        Assert.True(code == HttpStatusCode.UnprocessableEntity, $"{window}: expected 422, got {code} {body}");
        Assert.Contains(refusedWith, body?["message"]?.GetValue<string>() ?? "", StringComparison.Ordinal);
    }

    private static JsonObject Spec(string algorithm, int? rsaKeySize = null, JsonObject? vault = null)
    {
        var spec = Obj(("algorithm", algorithm), ("rotation", Obj(("interval", "720h"))));
        if (rsaKeySize is { } size)
            spec["rsaKeySize"] = size;
        if (vault is not null)
            spec["vault"] = vault.DeepClone();
        return spec;
    }

    private static JsonObject Pkcs11(params (string Key, JsonNode? Value)[] changes)
    {
        var vault = (JsonObject)Hsm.DeepClone();
        vault["pkcs11"] = With(vault["pkcs11"]!.AsObject(), changes);
        return vault;
    }

    private static JsonObject Azure(params (string Key, JsonNode? Value)[] changes)
    {
        var vault = (JsonObject)Akv.DeepClone();
        vault["azureKeyVault"] = With(vault["azureKeyVault"]!.AsObject(), changes);
        return vault;
    }

    private static JsonObject With(JsonObject original, params (string Key, JsonNode? Value)[] changes)
    {
        var copy = (JsonObject)original.DeepClone();
        foreach (var (key, value) in changes)
            copy[key] = value?.DeepClone();
        return copy;
    }

    private static JsonObject Obj(params (string Key, JsonNode? Value)[] properties)
    {
        var json = new JsonObject();
        foreach (var (key, value) in properties)
            json[key] = value;
        return json;
    }

    /// <summary>One CRD server for the class, with both of the project's CRDs applied from config/crds.</summary>
    public sealed class Server : IAsyncLifetime
    {
        private CrdServer? _server;

        public k8s.Kubernetes Client => _server!.Client;

        /// <summary>Whether the server binary carries the version its build stamped into it.</summary>
        public bool StampedWithVersion { get; private set; }

        public async ValueTask InitializeAsync()
        {
            var binaries = CrdServer.FindBinaries();
            Assert.SkipWhen(binaries is null,
                $"the Kubernetes {CrdServer.Version} CRD server is not built: run hack/crd-server.sh (hack/test.sh does)");
            _server = await CrdServer.StartAsync(binaries, CancellationToken.None);
            var bytes = await File.ReadAllBytesAsync(Path.Combine(binaries, "apiextensions-apiserver"));
            var stamp = System.Text.Encoding.ASCII.GetBytes($"v{CrdServer.Version}");
            StampedWithVersion = bytes.AsSpan().IndexOf(stamp) >= 0;
            foreach (var file in Directory.GetFiles(Path.Combine(Repository.Root, "config", "crds"), "*.yaml"))
            {
                var crd = TestYaml.Deserialize<V1CustomResourceDefinition>(await File.ReadAllTextAsync(file));
                await Client.ApiextensionsV1.CreateCustomResourceDefinitionAsync(crd);
                await Eventually.HoldsAsync(() => Client.ApiextensionsV1.ReadCustomResourceDefinitionAsync(crd.Metadata.Name),
                    c => c.Status?.Conditions?.Any(x => x.Type == "Established" && x.Status == "True") == true,
                    TimeSpan.FromSeconds(30), $"{crd.Metadata.Name} established", CancellationToken.None);
            }
        }

        public async Task<(HttpStatusCode Code, JsonNode? Body)> SendAsync(HttpMethod method, string path, JsonNode? body, CancellationToken cancellationToken)
        {
            using var request = new HttpRequestMessage(method, new Uri(_server!.Server, path));
            if (body is not null)
                request.Content = JsonContent.Create(body);
            using var response = await Client.HttpClient.SendAsync(request, cancellationToken);
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
        }

        public async ValueTask DisposeAsync()
        {
            if (_server is not null)
                await _server.DisposeAsync();
        }
    }
}
