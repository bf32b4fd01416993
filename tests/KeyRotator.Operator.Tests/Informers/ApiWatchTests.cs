using System.Diagnostics;
using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Operator.Informers;
using KeyRotator.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace KeyRotator.Operator.Tests.Informers;

/// <summary>
/// The operator's own watch reader (<see cref="ApiWatch"/>) and the informer on top of it, against the real
/// kube-apiserver: what it yields, how a watch the server ends is taken up again, HTTP refusals and
/// cancellation. The informer here is the operator's (<see cref="InformerSources"/>), with only the server's
/// timeout shortened. An expired resourceVersion (410) cannot be had on demand from a kube-apiserver whose
/// watch cache keeps minutes of history: <see cref="WatchProtocolTests"/> scripts it.
/// </summary>
public sealed class ApiWatchTests(KubernetesEnvironment env)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_watch_yields_the_selected_changes_after_its_resourceVersion_in_order_and_typed()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("watch-events", ct);
        await CreateAsync(ns, "before", ct);
        var resourceVersion = (await env.Admin.CoreV1.ListNamespacedConfigMapAsync(ns, cancellationToken: ct)).Metadata.ResourceVersion;
        var errors = new List<Exception>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        stop.CancelAfter(Patience);
        var events = new List<string>();

        var watch = Task.Run(async () =>
        {
            await foreach (var (type, cm) in env.Admin.WatchAsync<V1ConfigMap>(
                WatchRequest.Core("configmaps", ns) with { ResourceVersion = resourceVersion, LabelSelector = Labels.ManagedBySelector }, errors.Add, stop.Token))
            {
                if (type is WatchEventType.Bookmark)
                    continue;
                events.Add($"{type} {cm.Metadata.Name} {cm.Data?["value"]}");
                if (events.Count == 3)
                    return;
            }
        }, ct);
        await env.Admin.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "unlabelled" }, Data = new Dictionary<string, string> { ["value"] = "x" } }, ns, cancellationToken: ct);
        var created = await CreateAsync(ns, "after", ct);
        created.Data["value"] = "2";
        await env.Admin.CoreV1.ReplaceNamespacedConfigMapAsync(created, "after", ns, cancellationToken: ct);
        await env.Admin.CoreV1.DeleteNamespacedConfigMapAsync("before", ns, cancellationToken: ct);
        await watch;

        Assert.Equal(["Added after 1", "Modified after 2", "Deleted before 1"], events);
        Assert.Empty(errors);
    }

    [Fact]
    public async Task A_watch_the_server_ends_at_its_timeout_ends_quietly_and_the_next_from_its_last_version_misses_nothing()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("watch-timeout", ct);
        var resourceVersion = (await env.Admin.CoreV1.ListNamespacedConfigMapAsync(ns, cancellationToken: ct)).Metadata.ResourceVersion;
        var errors = new List<Exception>();
        var clock = Stopwatch.StartNew();

        // Bookmarks asked for; whether this kube-apiserver sends one before the timeout or not, the version goes on from the last event.
        await foreach (var (_, cm) in env.Admin.WatchAsync<V1ConfigMap>(
            WatchRequest.Core("configmaps", ns) with { ResourceVersion = resourceVersion, TimeoutSeconds = 3 }, errors.Add, ct))
            resourceVersion = cm.Metadata.ResourceVersion;

        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(2), Patience);
        Assert.Empty(errors);

        // Written while no watch was open: the next watch, from the last version, still sees it.
        await CreateAsync(ns, "in-the-gap", ct);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        stop.CancelAfter(Patience);
        await foreach (var (type, cm) in env.Admin.WatchAsync<V1ConfigMap>(
            WatchRequest.Core("configmaps", ns) with { ResourceVersion = resourceVersion }, errors.Add, stop.Token))
        {
            if (type is WatchEventType.Added && cm.Metadata.Name == "in-the-gap")
                break;
        }

        Assert.False(stop.IsCancellationRequested, "the object written between the two watches never came");
        Assert.Empty(errors);
    }

    [Fact]
    public async Task An_informer_whose_watches_the_server_keeps_ending_reopens_them_from_where_it_was_and_misses_nothing()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("informer-reopen", ct);
        var source = InformerSources.ConfigMaps(env.Admin, ns);
        var lists = 0;
        var watches = 0;
        var shortWatches = source with
        {
            List = async c => { Interlocked.Increment(ref lists); return await source.List(c); },
            Watch = (resourceVersion, _, onError, c) => { Interlocked.Increment(ref watches); return source.Watch(resourceVersion, 2, onError, c); },
        };
        var informer = new ResourceInformer<V1ConfigMap>(shortWatches, TimeProvider.System, TimeSpan.FromMinutes(10), NullLogger.Instance);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var run = informer.RunAsync(stop.Token);
        await Eventually.HoldsAsync(() => Task.FromResult(informer.HasSynced), synced => synced, Patience, "the informer listed", ct);

        // Writes spread over several two-second watches, some landing while one ends and the next opens.
        for (var i = 0; i < 8; i++)
        {
            await CreateAsync(ns, $"cm-{i}", ct);
            await Task.Delay(TimeSpan.FromMilliseconds(700), ct);
        }

        await Eventually.HoldsAsync(() => Task.FromResult(informer.Items.Count), count => count == 8, Patience, "every object cached", ct);
        Assert.True(watches >= 3, $"only {watches} watches: the server did not end them as asked");
        Assert.Equal(1, lists);
        Assert.True(informer.IsHealthy);
        await stop.CancelAsync();
        await run;
    }

    [Fact]
    public async Task A_refused_watch_throws_the_HTTP_status_without_the_callers_token()
    {
        var ct = TestContext.Current.CancellationToken;
        using var operatorClient = new k8s.Kubernetes(env.OperatorConfig);

        // The operator's role does not cover pods.
        var refused = await Assert.ThrowsAsync<HttpOperationException>(async () =>
        {
            await foreach (var _ in operatorClient.WatchAsync<V1Pod>(WatchRequest.Core("pods", null), cancellationToken: ct))
            {
            }
        });

        Assert.Equal(HttpStatusCode.Forbidden, refused.Response.StatusCode);
        Assert.Contains("forbidden", refused.Response.Content, StringComparison.OrdinalIgnoreCase);
        Assert.False(refused.Request.Headers.ContainsKey("Authorization"));
        Assert.DoesNotContain(env.OperatorConfig.AccessToken, refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancelling_a_watch_ends_it_at_once()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("watch-cancel", ct);
        await CreateAsync(ns, "first", ct);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var clock = new Stopwatch();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in env.Admin.WatchAsync<V1ConfigMap>(WatchRequest.Core("configmaps", ns), cancellationToken: stop.Token))
            {
                // The first object has come: the stream is open and now waits for the next event, which never comes.
                clock.Start();
                stop.CancelAfter(TimeSpan.FromMilliseconds(200));
            }
        });

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"the watch went on {clock.Elapsed} after it was cancelled");
    }

    private Task<V1ConfigMap> CreateAsync(string ns, string name, CancellationToken cancellationToken) =>
        env.Admin.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap
        {
            Metadata = new V1ObjectMeta { Name = name, Labels = new Dictionary<string, string> { [Labels.ManagedBy] = Labels.ManagedByValue } },
            Data = new Dictionary<string, string> { ["value"] = "1" },
        }, ns, cancellationToken: cancellationToken);
}
