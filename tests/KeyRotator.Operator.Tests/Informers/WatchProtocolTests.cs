using System.Net;
using System.Text;
using k8s;
using k8s.Models;
using KeyRotator.Operator.Informers;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Informers;

/// <summary>
/// Answers the real API server does not give on demand (a watch refused with HTTP 410, a line that does
/// not decode), scripted at the HTTP level behind KubernetesClient's own client: the operator's informer
/// and watch reader read them exactly as they would read the API server.
/// </summary>
public sealed class WatchProtocolTests
{
    private const string FirstList = """{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"10"},"items":[{"metadata":{"name":"a","namespace":"ns","resourceVersion":"9"}}]}""";

    private const string SecondList = """{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"20"},"items":[{"metadata":{"name":"a","namespace":"ns","resourceVersion":"9"}},{"metadata":{"name":"meanwhile","namespace":"ns","resourceVersion":"18"}}]}""";

    [Fact]
    public async Task A_watch_refused_with_410_Gone_makes_the_informer_list_again_and_hold_what_was_written_meanwhile()
    {
        var server = new ScriptedServer();
        server.Watches.Enqueue(new HttpResponseMessage(HttpStatusCode.Gone) { Content = Json("""{"kind":"Status","code":410,"reason":"Gone","message":"too old resource version"}""") });

        var (informer, logs) = await ListedThenExpiredAsync(server);

        Assert.True(informer.Get("ns", "meanwhile") is not null, string.Join('\n', logs.Lines));
        Assert.Equal(0, informer.Failures);
        Assert.Contains("watch=true", server.WatchQueries.First(), StringComparison.Ordinal);
        Assert.Contains("resourceVersion=10", server.WatchQueries.First(), StringComparison.Ordinal);
        Assert.Contains("allowWatchBookmarks=true", server.WatchQueries.First(), StringComparison.Ordinal);
        Assert.Contains("labelSelector=app.kubernetes.io%2Fmanaged-by%3Dkeyrotator", server.WatchQueries.First(), StringComparison.Ordinal);
        Assert.Contains("resourceVersion=20", server.WatchQueries.ElementAt(1), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_410_Expired_error_event_in_the_stream_makes_the_informer_list_again_and_hold_what_was_written_meanwhile()
    {
        var server = new ScriptedServer();
        server.Watches.Enqueue(new HttpResponseMessage(HttpStatusCode.OK)
        {
            Content = Json("""
                {"type":"ADDED","object":{"metadata":{"name":"b","namespace":"ns","resourceVersion":"11"}}}
                {"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 11 (15)","reason":"Expired","code":410}}

                """),
        });

        var (informer, logs) = await ListedThenExpiredAsync(server);

        Assert.True(informer.Get("ns", "meanwhile") is not null, string.Join('\n', logs.Lines));
        Assert.True(informer.Get("ns", "b") is null, "b is not in the second list: it was deleted meanwhile");
        Assert.Equal(0, informer.Failures);
        Assert.Contains(logs.Lines, l => l.Contains("410 Expired", StringComparison.Ordinal));
        Assert.Contains("resourceVersion=20", server.WatchQueries.ElementAt(1), StringComparison.Ordinal);
    }

    /// <summary>Runs the operator's ConfigMap informer until it has listed twice (the second list has "meanwhile") and opened the next watch.</summary>
    private static async Task<(ResourceInformer<V1ConfigMap>, CapturedLogs)> ListedThenExpiredAsync(ScriptedServer server)
    {
        using var client = new k8s.Kubernetes(new KubernetesClientConfiguration { Host = "https://api.invalid" }, server);
        var logs = new CapturedLogs();
        var informer = new ResourceInformer<V1ConfigMap>(InformerSources.ConfigMaps(client, "ns"), TimeProvider.System, TimeSpan.FromMinutes(10), logs.CreateLogger("informer"));
        using var stop = new CancellationTokenSource();
        var run = informer.RunAsync(stop.Token);
        await WaitUntil(() => server.WatchQueries.Count == 2 || informer.Failures > 0);
        await stop.CancelAsync();
        await run;
        return (informer, logs);
    }

    [Fact]
    public async Task A_line_that_does_not_decode_goes_to_onError_and_the_watch_goes_on()
    {
        var server = new ScriptedServer();
        server.Watches.Enqueue(new HttpResponseMessage(HttpStatusCode.OK)
        {
            Content = Json("""
                {"type":"ADDED","object":{"metadata":{"name":"b","namespace":"ns","resourceVersion":"11"},"data":{"k":"v"}}}
                {"type":"MODIFIED","object":{"metadata":{"name":"b","namespace":"ns","resourceVersion":"12"},"data":"not a map"}}
                not json at all
                {"type":"BOOKMARK","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"resourceVersion":"13"}}}
                {"type":"DELETED","object":{"metadata":{"name":"b","namespace":"ns","resourceVersion":"14"}}}

                """),
        });
        using var client = new k8s.Kubernetes(new KubernetesClientConfiguration { Host = "https://api.invalid" }, server);
        var errors = new List<Exception>();
        var events = new List<string>();

        await foreach (var (type, cm) in client.WatchAsync<V1ConfigMap>(WatchRequest.Core("configmaps", "ns"), errors.Add, TestContext.Current.CancellationToken))
            events.Add($"{type} {cm.Metadata.Name} {cm.Metadata.ResourceVersion}");

        Assert.Equal([$"{WatchEventType.Added} b 11", $"{WatchEventType.Bookmark}  13", $"{WatchEventType.Deleted} b 14"], events);
        Assert.Equal(2, errors.Count);
    }

    private static StringContent Json(string text) => new(text, Encoding.UTF8, "application/json");

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition() && DateTime.UtcNow < deadline)
            await Task.Delay(10);
    }

    /// <summary>
    /// The API server as the client's innermost handler: the first list, then the second for every later one;
    /// each scripted watch answer in turn, then watches that stay open and quiet.
    /// </summary>
    private sealed class ScriptedServer : DelegatingHandler
    {
        private int _lists;

        public System.Collections.Concurrent.ConcurrentQueue<HttpResponseMessage> Watches { get; } = new();

        public System.Collections.Concurrent.ConcurrentQueue<string> WatchQueries { get; } = new();

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var query = request.RequestUri!.Query;
            if (!query.Contains("watch=true", StringComparison.Ordinal))
            {
                return new HttpResponseMessage(HttpStatusCode.OK) { Content = Json(Interlocked.Increment(ref _lists) == 1 ? FirstList : SecondList), RequestMessage = request };
            }

            WatchQueries.Enqueue(query);
            if (Watches.TryDequeue(out var answer))
            {
                answer.RequestMessage = request;
                return answer;
            }
            await Task.Delay(Timeout.Infinite, cancellationToken);
            throw new OperationCanceledException(cancellationToken);
        }
    }
}
