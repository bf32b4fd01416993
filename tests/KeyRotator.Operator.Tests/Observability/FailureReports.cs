using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;

namespace KeyRotator.Operator.Tests.Observability;

/// <summary>Signature-failure reports as a verifier sends them: a POST to the operator's report endpoint with a bearer token.</summary>
internal static class FailureReports
{
    /// <summary>The report endpoint of the set "auth" in <paramref name="ns"/>.</summary>
    public static Uri Path(string ns, string set = "auth") => new($"/v1/namespaces/{ns}/signingkeysets/{set}/signaturefailures", UriKind.Relative);

    /// <summary>Sends <paramref name="body"/> as JSON (with no Authorization header when <paramref name="token"/> is null) and returns the status code.</summary>
    public static async Task<HttpStatusCode> PostAsync(HttpClient http, string ns, string? token, object body, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Path(ns)) { Content = JsonContent.Create(body) };
        if (token is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request, cancellationToken);
        return response.StatusCode;
    }
}
