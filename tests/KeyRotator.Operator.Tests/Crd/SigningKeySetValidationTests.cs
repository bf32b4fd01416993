using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using KeyRotator.Model.Resources;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Crd;

/// <summary>The API server rejects malformed SigningKeySets before the operator ever sees them.</summary>
public sealed class SigningKeySetValidationTests(KubernetesEnvironment env)
{
    public static TheoryData<string, string, string> InvalidSpecs => new()
    {
        // case, JSON path to change inside spec (or remove with a "-" prefix), expected message fragment
        { "unknown algorithm", "algorithm=\"HS256\"", "spec.algorithm: Unsupported value: \"HS256\"" },
        { "none algorithm", "algorithm=\"none\"", "spec.algorithm: Unsupported value: \"none\"" },
        { "RSA key too small", "rsaKeySize=1024", "spec.rsaKeySize: Unsupported value: 1024" },
        { "missing algorithm", "-algorithm", "spec.algorithm: Required value" },
        { "missing rotation", "-rotation", "spec.rotation: Required value" },
        { "interval not a duration", "rotation.interval=\"monthly\"", "spec.rotation.interval" },
        { "both interval and cron", "rotation.cron=\"0 0 3 ? * MON\"", "spec.rotation" },
        { "unknown provider", "vault={\"provider\":\"Vault\"}", "spec.vault.provider: Unsupported value: \"Vault\"" },
        { "revoked kid not a thumbprint", "revokedKeyIds=[\"abc\"]", "spec.revokedKeyIds" },
        { "unknown deletion policy", "deletionPolicy=\"Purge\"", "spec.deletionPolicy: Unsupported value: \"Purge\"" },
        { "alert threshold beyond the model", "signatureFailureAlert={\"threshold\":99999999999}", "spec.signatureFailureAlert.threshold" },
        { "pkcs11 without pin", "vault={\"provider\":\"Pkcs11\",\"pkcs11\":{\"library\":\"/x.so\",\"tokenLabel\":\"t\"}}", "spec.vault.pkcs11.pinSecretRef: Required value" },
        // Issue #32: every list and string a team writes has a maximum (docs/operations.md, "Bounds").
        { "101 revoked kids", $"revokedKeyIds=[{string.Join(',', Enumerable.Range(0, 101).Select(i => $"\"{i:D43}\""))}]", "spec.revokedKeyIds in body should have at most 100 items" },
        { "a cron of 300 characters", $"rotation={{\"cron\":\"{new string('0', 300)}\"}}", "spec.rotation.cron in body should be at most 256 chars long" },
        { "nine publish entries", $"publish=[{string.Join(',', Enumerable.Range(0, 9).Select(i => $"{{\"target\":\"t\",\"path\":\"p{i}\"}}"))}]", "spec.publish in body should have at most 8 items" },
    };

    [Theory]
    [MemberData(nameof(InvalidSpecs))]
    public async Task Api_server_rejects_invalid_set_naming_the_field(string description, string change, string expected)
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("crd-invalid", ct);
        var body = JsonNode.Parse(KubernetesJson.Serialize(SigningKeySetBuilder.Named("bad", ns).Build()))!.AsObject();
        Apply(body["spec"]!.AsObject(), change);

        var error = await Assert.ThrowsAsync<HttpOperationException>(() => env.Admin.CustomObjects.CreateNamespacedCustomObjectAsync(
            body, V1Alpha1SigningKeySet.Group, V1Alpha1SigningKeySet.Version, ns, V1Alpha1SigningKeySet.Plural, cancellationToken: ct));

        Assert.True(error.Response.StatusCode == HttpStatusCode.UnprocessableEntity, $"{description}: {error.Response.Content}");
        var message = KubernetesJson.Deserialize<V1Status>(error.Response.Content).Message;
        Assert.True(message.Contains(expected, StringComparison.Ordinal), $"{description}: expected \"{expected}\" in: {message}");
    }

    [Fact]
    public async Task A_set_listing_5000_target_namespaces_is_refused_by_the_api_server()
    {
        // Team B lists team A's namespaces and thousands more, hoping each edit costs the operator a read of every one.
        var ct = TestContext.Current.CancellationToken;
        var victim = await env.CreateNamespaceAsync("bounds-a", ct);
        var attacker = await env.CreateNamespaceAsync("bounds-b", ct);
        var set = SigningKeySetBuilder.Named("auth", attacker)
            .WithSpec(s => s with { Jwks = new JwksSpec { TargetNamespaces = [victim, .. Enumerable.Range(0, 4999).Select(i => $"made-up-{i}")] } })
            .Build();

        var error = await Assert.ThrowsAsync<HttpOperationException>(() => env.Admin.CustomObjects.CreateNamespacedCustomObjectAsync(
            set, V1Alpha1SigningKeySet.Group, V1Alpha1SigningKeySet.Version, attacker, V1Alpha1SigningKeySet.Plural, cancellationToken: ct));

        Assert.True(error.Response.StatusCode == HttpStatusCode.UnprocessableEntity, error.Response.Content);
        var message = KubernetesJson.Deserialize<V1Status>(error.Response.Content).Message;
        Assert.True(message.Contains("spec.jwks.targetNamespaces in body should have at most 100 items", StringComparison.Ordinal), message);
    }

    private static void Apply(JsonObject spec, string change)
    {
        if (change.StartsWith('-'))
        {
            spec.Remove(change[1..]);
            return;
        }

        var (path, value) = (change[..change.IndexOf('=', StringComparison.Ordinal)], change[(change.IndexOf('=', StringComparison.Ordinal) + 1)..]);
        var segments = path.Split('.');
        var target = spec;
        foreach (var segment in segments[..^1])
            target = target[segment]!.AsObject();
        target[segments[^1]] = JsonNode.Parse(value);
    }
}
