using System.Runtime.CompilerServices;
using System.Threading.Channels;
using k8s.Models;
using KeyRotator.Operator.Informers;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace KeyRotator.Operator.Tests.Informers;

/// <summary>
/// Failure paths a real API server cannot be made to show on demand (a watch that goes silent, a
/// list that fails): the informer's list and watch are scripted here. Its normal list-then-watch
/// runs against the real API server in every reconcile test.
/// </summary>
public sealed class ResourceInformerTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly Channel<(WatchEventType, V1ConfigMap)> _events = Channel.CreateUnbounded<(WatchEventType, V1ConfigMap)>();
    private int _lists;
    private int _watches;
    private bool _failLists;

    private ListWatch<V1ConfigMap> Source => new(
        "scripted configmaps",
        _ =>
        {
            Interlocked.Increment(ref _lists);
            if (_failLists)
                throw new HttpRequestException("connection refused");
            return Task.FromResult<(IList<V1ConfigMap>, string)>(([ConfigMap("a", "1")], "1"));
        },
        (_, _, _, ct) => Watch(ct));

    private async IAsyncEnumerable<(WatchEventType, V1ConfigMap)> Watch([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _watches);
        while (await _events.Reader.WaitToReadAsync(cancellationToken))
        {
            while (_events.Reader.TryRead(out var item))
                yield return item;
        }
    }

    [Fact]
    public async Task Lists_then_applies_watch_events_to_its_cache()
    {
        var informer = new ResourceInformer<V1ConfigMap>(Source, _time, TimeSpan.FromMinutes(10), NullLogger.Instance);
        var seen = new List<string>();
        informer.Changed += (type, cm) => { lock (seen) seen.Add($"{type} {cm.Metadata.Name}"); };
        using var stop = new CancellationTokenSource();
        var run = informer.RunAsync(stop.Token);

        await WaitUntil(() => informer.HasSynced && _watches == 1);
        _events.Writer.TryWrite((WatchEventType.Added, ConfigMap("b", "2")));
        _events.Writer.TryWrite((WatchEventType.Deleted, ConfigMap("a", "3")));
        await WaitUntil(() => informer.Get("ns", "b") is not null && informer.Get("ns", "a") is null);

        Assert.True(informer.IsHealthy);
        Assert.Equal(["Modified a", "Added b", "Deleted a"], seen);
        await stop.CancelAsync();
        await run;
    }

    [Fact]
    public async Task A_silent_watch_is_restarted_by_the_watchdog_with_a_fresh_list()
    {
        var informer = new ResourceInformer<V1ConfigMap>(Source, _time, TimeSpan.FromMinutes(2), NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        var run = informer.RunAsync(stop.Token);
        await WaitUntil(() => _watches == 1);

        _time.Advance(TimeSpan.FromMinutes(2));

        await WaitUntil(() => _watches == 2 && _lists == 2);
        await stop.CancelAsync();
        await run;
    }

    [Fact]
    public async Task A_failing_list_reports_unhealthy_retries_with_backoff_and_recovers()
    {
        _failLists = true;
        var informer = new ResourceInformer<V1ConfigMap>(Source, _time, TimeSpan.FromMinutes(10), NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        var run = informer.RunAsync(stop.Token);
        await WaitUntil(() => informer.Failures == 1);
        Assert.False(informer.IsHealthy);

        _failLists = false;
        _time.Advance(TimeSpan.FromSeconds(1));

        await WaitUntil(() => informer.IsHealthy);
        Assert.Equal(2, _lists);
        await stop.CancelAsync();
        await run;
    }

    private static V1ConfigMap ConfigMap(string name, string resourceVersion) =>
        new() { Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "ns", ResourceVersion = resourceVersion } };

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++)
            await Task.Delay(10);
        Assert.True(condition());
    }
}
