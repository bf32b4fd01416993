using System.Runtime.CompilerServices;
using System.Threading.Channels;
using k8s.Models;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Informers;
using KeyRotator.Operator.Runtime;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace KeyRotator.Operator.Tests.Informers;

/// <summary>Read-your-writes of sets, with the informer's list and watch scripted (the order of events matters here).</summary>
public sealed class ObjectCacheTests
{
    private readonly Channel<(WatchEventType, V1Alpha1SigningKeySet)> _events = Channel.CreateUnbounded<(WatchEventType, V1Alpha1SigningKeySet)>();

    [Fact]
    public async Task A_set_the_operators_last_write_deleted_stays_gone_after_its_memory_is_forgotten_until_the_watch_reports_the_deletion()
    {
        var deleting = new V1Alpha1SigningKeySet
        {
            Metadata = new V1ObjectMeta { Name = "auth", NamespaceProperty = "ns", Uid = "u1", ResourceVersion = "7", DeletionTimestamp = DateTime.UtcNow, Finalizers = [Labels.Finalizer] },
        };
        var informer = new ResourceInformer<V1Alpha1SigningKeySet>(new ListWatch<V1Alpha1SigningKeySet>(
            "scripted sets",
            _ => Task.FromResult<(IList<V1Alpha1SigningKeySet>, string)>(([deleting], "7")),
            (_, _, _, ct) => Watch(ct)), new FakeTimeProvider(), TimeSpan.FromMinutes(10), NullLogger.Instance);
        var cache = new ObjectCache();
        cache.Register(informer);
        using var stop = new CancellationTokenSource();
        var run = informer.RunAsync(stop.Token);
        await WaitUntil(() => informer.HasSynced);

        // The finalizer's last write removed the finalizer (the API server deleted the set), then the set's memory is forgotten.
        cache.WroteGone("ns", "auth", over: "7");
        cache.Forget(new SetKey("ns", "auth"), "u1");

        // The informer still holds version 7 with the finalizer: a reconcile must see the set gone, not finalize it again.
        Assert.Equal((true, null), cache.TryGetSet("ns", "auth"));

        _events.Writer.TryWrite((WatchEventType.Deleted, deleting));
        await WaitUntil(() => informer.Get("ns", "auth") is null);
        cache.Forget(new SetKey("ns", "auth"), "u1");
        Assert.Equal((true, null), cache.TryGetSet("ns", "auth"));

        await stop.CancelAsync();
        await run;
    }

    private async IAsyncEnumerable<(WatchEventType, V1Alpha1SigningKeySet)> Watch([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (await _events.Reader.WaitToReadAsync(cancellationToken))
        {
            while (_events.Reader.TryRead(out var item))
                yield return item;
        }
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 10 s");
            await Task.Delay(10);
        }
    }
}
