using System.Text.Json;
using k8s.Autorest;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Kubernetes;

namespace KeyRotator.Operator.Kubernetes;

/// <summary>
/// A request the API server refused, said the way a user can act on it: the operation and object
/// (method and path) and the answer (status code, reason and the Status message), never a body the
/// operator sent.
/// </summary>
public static class ApiAnswer
{
    /// <summary>The most of the API server's own message kept: its answers (a refused object echoed back) have no bound of their own.</summary>
    public const int MaxAnswerLength = 1024;

    /// <summary>"PUT /api/v1/namespaces/a/secrets/b answered 422 Unprocessable Entity: Secret \"b\" is invalid: …".</summary>
    public static string Describe(HttpOperationException e)
    {
        var answer = $"{(int)e.Response.StatusCode} {e.Response.ReasonPhrase}";
        try
        {
            using var body = JsonDocument.Parse(e.Response.Content ?? "");
            if (body.RootElement.ValueKind == JsonValueKind.Object && body.RootElement.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.String)
                answer += $": {StatusMessage.Bound(message.GetString()!, MaxAnswerLength)}";
        }
        catch (JsonException)
        {
        }

        return $"{e.Request?.Method} {e.Request?.RequestUri?.AbsolutePath} answered {answer}";
    }
}
