using System.Net;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace KeyRotator.Operator.Informers;

/// <summary>
/// Reads a Kubernetes watch: one GET that stays open and answers one JSON event a line,
/// <c>{"type":"ADDED","object":{…}}</c>. Ours because KubernetesClient.Aot has no watcher; it answers as
/// KubernetesClient's watcher did, which is what <see cref="ResourceInformer{T}"/> is built on:
/// <list type="bullet">
/// <item>an HTTP error (410 Gone for a resourceVersion that is too old, 403, 5xx) throws
/// <see cref="HttpOperationException"/> from the first step of the enumeration;</item>
/// <item>an ERROR event (its object a Status, 410 Expired when the version has been compacted away) goes to
/// <c>onError</c> as a <see cref="KubernetesException"/> and is not yielded; so does an event that does not
/// decode; the server closes the watch after an ERROR event;</item>
/// <item>bookmarks are yielded (their object carries only the resourceVersion to resume from);</item>
/// <item>the enumeration ends when the server closes the watch (at <c>timeoutSeconds</c>), and throws
/// <see cref="OperationCanceledException"/> as soon as the token is cancelled, closing the stream.</item>
/// </list>
/// The request goes through the client's own <see cref="HttpClient"/> (its handlers, TLS and client
/// certificate) with its credentials (a bearer token, refreshed by the token provider when it has one).
/// </summary>
public static class ApiWatch
{
    /// <summary>Watches <paramref name="request"/>, each object decoded by <see cref="KubernetesJson"/>.</summary>
    public static IAsyncEnumerable<(WatchEventType Type, T Object)> WatchAsync<T>(
        this IKubernetes kubernetes, WatchRequest request, Action<Exception>? onError = null, CancellationToken cancellationToken = default) =>
        kubernetes.WatchAsync(request, element => KubernetesJson.Deserialize<T>(element), onError, cancellationToken);

    /// <summary>
    /// Watches <paramref name="request"/>, each object decoded by <paramref name="decode"/>: an object it
    /// returns null for is skipped, one it throws for goes to <paramref name="onError"/>.
    /// </summary>
    public static async IAsyncEnumerable<(WatchEventType Type, T Object)> WatchAsync<T>(
        this IKubernetes kubernetes, WatchRequest request, Func<JsonElement, T?> decode, Action<Exception>? onError,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var response = await OpenAsync(kubernetes, request, cancellationToken);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken), Encoding.UTF8);
        while (await NextLineAsync(reader, cancellationToken) is { } line)
        {
            if (Parse(line, decode, onError) is { } watchEvent)
                yield return watchEvent;
        }
    }

    private static async Task<HttpResponseMessage> OpenAsync(IKubernetes kubernetes, WatchRequest request, CancellationToken cancellationToken)
    {
        // The base class of both KubernetesClient flavours; nothing else in the process implements IKubernetes.
        var client = kubernetes as k8s.Kubernetes
            ?? throw new ArgumentException($"a watch needs KubernetesClient's own client, not {kubernetes.GetType().Name}", nameof(kubernetes));
        using var message = new HttpRequestMessage(HttpMethod.Get, new Uri(client.BaseUri, request.RelativeUri))
        {
            // As KubernetesClient asks for every request: all watches then share one connection.
            Version = HttpVersion.Version20,
        };
        if (client.Credentials is { } credentials)
            await credentials.ProcessHttpRequestAsync(message, cancellationToken);
        var response = await client.HttpClient.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (response.IsSuccessStatusCode)
            return response;
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            // The exception keeps the request's headers: not the token.
            message.Headers.Authorization = null;
            throw new HttpOperationException($"Operation returned an invalid status code '{response.StatusCode}', response body {body}")
            {
                Request = new HttpRequestMessageWrapper(message, ""),
                Response = new HttpResponseMessageWrapper(response, body),
            };
        }
    }

    private static async Task<string?> NextLineAsync(StreamReader reader, CancellationToken cancellationToken)
    {
        try
        {
            return await reader.ReadLineAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException && cancellationToken.IsCancellationRequested)
        {
            // A read the cancellation broke off (the connection torn down under it) is a cancellation.
            throw new OperationCanceledException("the watch was cancelled", e, cancellationToken);
        }
    }

    private static (WatchEventType Type, T Object)? Parse<T>(string line, Func<JsonElement, T?> decode, Action<Exception>? onError)
    {
        if (string.IsNullOrWhiteSpace(line))
            return null;
        try
        {
            using var document = JsonDocument.Parse(line);
            var type = document.RootElement.GetProperty("type").GetString();
            var item = document.RootElement.GetProperty("object");
            switch (type)
            {
                case "ERROR":
                    onError?.Invoke(new KubernetesException(KubernetesJson.Deserialize<V1Status>(item)));
                    return null;
                case "ADDED" or "MODIFIED" or "DELETED" or "BOOKMARK":
                    return decode(item) is { } decoded ? (Type(type), decoded) : null;
                default:
                    onError?.Invoke(new JsonException($"a watch event of unknown type '{type}'"));
                    return null;
            }
        }
        catch (Exception e)
        {
            // As KubernetesClient's watcher: an event that does not decode is reported and the watch goes on.
            onError?.Invoke(e);
            return null;
        }
    }

    private static WatchEventType Type(string type) => type switch
    {
        "ADDED" => WatchEventType.Added,
        "MODIFIED" => WatchEventType.Modified,
        "DELETED" => WatchEventType.Deleted,
        _ => WatchEventType.Bookmark,
    };
}
