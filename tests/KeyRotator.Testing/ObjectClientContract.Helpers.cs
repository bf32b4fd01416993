using System.Net;
using System.Text.Json;
using k8s.Autorest;
using k8s.Models;
using KeyRotator.Core.Keys;
using KeyRotator.Model.Jose;
using Xunit;

namespace KeyRotator.Testing;

/// <summary>The contract's objects and how it reads an answer.</summary>
public abstract partial class ObjectClientContract
{
    private static async Task<(HttpStatusCode Status, string? Reason)> Refused(Func<Task> call)
    {
        var e = await Assert.ThrowsAsync<HttpOperationException>(call);
        string? reason = null;
        try
        {
            using var body = JsonDocument.Parse(e.Response.Content);
            reason = body.RootElement.TryGetProperty("reason", out var r) ? r.GetString() : null;
        }
        catch (JsonException)
        {
        }

        return (e.Response.StatusCode, reason);
    }

    private static string[] Names<T>(IEnumerable<T> items)
        where T : k8s.IKubernetesObject<V1ObjectMeta> => [.. items.Select(i => i.Metadata.Name).Order(StringComparer.Ordinal)];

    private static Jwk JwkFor() => PrivateSigningKey.Generate(JwsAlgorithm.ES256, 2048).PublicJwk;

    protected static V1ConfigMap ConfigMap(string ns, string name, string value = "v", Dictionary<string, string>? labels = null) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns, Labels = labels },
        Data = new Dictionary<string, string> { ["k"] = value },
    };

    protected static V1Secret Secret(string ns, string name, Dictionary<string, string>? labels = null) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns, Labels = labels },
        Data = new Dictionary<string, byte[]> { ["k"] = "v"u8.ToArray() },
    };

    private static T Copy<T>(T obj) => k8s.KubernetesJson.Deserialize<T>(k8s.KubernetesJson.Serialize(obj));
}
