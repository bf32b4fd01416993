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
        Assert.Contains(expected, message, StringComparison.Ordinal);
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
