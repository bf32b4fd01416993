using System.Net;
using k8s.Autorest;
using k8s.Models;
using KeyRotator.Model.Resources;

namespace KeyRotator.Testing;

/// <summary>How the API server names kinds and words its refusals, as the Kubernetes client raises them.</summary>
public sealed partial class InMemoryObjectClient
{
    /// <summary>
    /// Makes requests <paramref name="when"/> answers for fail with that status (verbs: get, list, create,
    /// replace, replace-status, delete), the answer's message being <paramref name="message"/> when given.
    /// </summary>
    public void Refuse(Func<ObjectWrite, HttpStatusCode?> when, string? message = null)
    {
        lock (_lock)
            _refusals.Add((when, message));
    }

    /// <summary>Lets every request through again.</summary>
    public void StopRefusing()
    {
        lock (_lock)
            _refusals.Clear();
    }

    private void Write(ObjectWrite write, HttpMethod method)
    {
        Check(write, method);
        Writes.Add(write);
    }

    private void Check(ObjectWrite request, HttpMethod method)
    {
        if (_refusals.Select(r => (Status: r.When(request), r.Message)).FirstOrDefault(r => r.Status is not null) is { Status: { } refused } refusal)
            throw Answer(refused, method, request.Kind, request.Namespace, request.Name, refused.ToString(), refusal.Message ?? $"refused by the test ({request})");
    }

    private static (string, string?, string) Key<T>(string? ns, string name) => (KindOf<T>(), typeof(T) == typeof(V1Namespace) || typeof(T) == typeof(V1Alpha1ClusterKeyVault) || typeof(T) == typeof(V1Alpha1ClusterPublishTarget) ? null : ns, name);

    /// <summary>The kind as kubectl names it (ConfigMap, Secret, SigningKeySet, …).</summary>
    public static string KindOf<T>() => typeof(T).Name switch
    {
        "Corev1Event" => "Event",
        var name when name.StartsWith("V1Alpha1", StringComparison.Ordinal) => name["V1Alpha1".Length..],
        var name when name.StartsWith("V1", StringComparison.Ordinal) => name["V1".Length..],
        var name => name,
    };

    /// <summary>The exception the Kubernetes client raises for the API server's answer, with a Status body.</summary>
    public static HttpOperationException Answer(HttpStatusCode status, HttpMethod method, string kind, string? ns, string name, string reason, string message)
    {
        var group = kind is "SigningKeySet" or "ClusterKeyVault" or "ClusterPublishTarget" ? $"/apis/{V1Alpha1SigningKeySet.GroupVersion}" : "/api/v1";
        var path = ns is null ? $"{group}/{kind.ToLowerInvariant()}s/{name}" : $"{group}/namespaces/{ns}/{kind.ToLowerInvariant()}s/{name}";
        var body = System.Text.Json.JsonSerializer.Serialize(new { kind = "Status", apiVersion = "v1", status = "Failure", message, reason, code = (int)status });
        return new HttpOperationException($"Operation returned an invalid status code '{status}'")
        {
            Request = new HttpRequestMessageWrapper(new HttpRequestMessage(method, "https://in-memory" + path), ""),
            Response = new HttpResponseMessageWrapper(new HttpResponseMessage(status) { ReasonPhrase = ReasonPhrase(status) }, body),
        };
    }

    private static string ReasonPhrase(HttpStatusCode status) => status switch
    {
        HttpStatusCode.Conflict => "Conflict",
        HttpStatusCode.NotFound => "Not Found",
        HttpStatusCode.Forbidden => "Forbidden",
        HttpStatusCode.ServiceUnavailable => "Service Unavailable",
        HttpStatusCode.UnprocessableEntity => "Unprocessable Entity",
        HttpStatusCode.InternalServerError => "Internal Server Error",
        _ => status.ToString(),
    };

}
