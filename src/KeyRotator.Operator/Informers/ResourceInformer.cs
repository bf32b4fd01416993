using System.Collections.Concurrent;
using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace KeyRotator.Operator.Informers;

/// <summary>
/// A cache of one kind of object kept current by list-then-watch, in the manner of client-go's
/// reflector: watch from the list's resourceVersion with bookmarks, re-list on 410 Gone, reconnect
/// with jittered backoff, and restart a watch that has gone silent (the watchdog). It never dies
/// silently: a failing informer reports unhealthy, which fails readiness.
/// </summary>
public sealed partial class ResourceInformer<T>(ListWatch<T> source, TimeProvider time, TimeSpan watchdogTimeout, ILogger logger)
    where T : IKubernetesObject<V1ObjectMeta>
{
    private static readonly TimeSpan MinBackoff = TimeSpan.FromMilliseconds(500);
    // Low enough that the operator is back within seconds of the API server answering again (an upgrade's
    // minute of downtime); a list attempt every few seconds costs a struggling API server little.
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(4);

    private readonly ConcurrentDictionary<(string? Namespace, string Name), T> _cache = new();
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<(string? Namespace, string Name), T>> _index = new(StringComparer.Ordinal);
    private Func<T, string?>? _indexBy;
    private volatile bool _healthy;

    /// <summary>Keeps an index of the cached objects by a key (one per object, or none); set before RunAsync.</summary>
    public void IndexBy(Func<T, string?> key) => _indexBy = key;

    /// <summary>The cached objects whose index key is <paramref name="key"/>.</summary>
    public IReadOnlyCollection<T> ByIndex(string key) => _index.TryGetValue(key, out var items) ? [.. items.Values] : [];

    /// <summary>Called for every added, modified or deleted object (and for each object on a re-list).</summary>
    public event Action<WatchEventType, T>? Changed;

    public string Description => source.Description;

    /// <summary>True once listed and while the watch is established.</summary>
    public bool IsHealthy => _healthy;

    public bool HasSynced { get; private set; }

    /// <summary>Times the list or watch failed, for the metrics.</summary>
    public int Failures { get; private set; }

    public IReadOnlyCollection<T> Items => [.. _cache.Values];

    public T? Get(string? ns, string name) => _cache.TryGetValue((ns, name), out var item) ? item : default;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var backoff = MinBackoff;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var resourceVersion = await ListAsync(cancellationToken);
                _healthy = true;
                backoff = MinBackoff;
                while (resourceVersion is not null && !cancellationToken.IsCancellationRequested)
                    resourceVersion = await WatchAsync(resourceVersion, cancellationToken);
                LogRelist(logger, source.Description);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                // Whatever the failure, the informer reports unhealthy (readiness fails) and reconnects with backoff.
                _healthy = false;
                Failures++;
                var delay = backoff + TimeSpan.FromMilliseconds(Random.Shared.Next(0, (int)(backoff.TotalMilliseconds / 2) + 1));
                LogFailure(logger, source.Description, Describe(e), delay.TotalSeconds);
                await Task.Delay(delay, time, cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
            }
        }

        _healthy = false;
    }

    private void Store((string?, string) key, T item)
    {
        // managedFields (server-side apply bookkeeping) are often most of an object's size and nothing
        // here reads them; an update sent without them leaves the server's copy unchanged.
        item.Metadata.ManagedFields = null;
        _cache.TryGetValue(key, out var previous);
        _cache[key] = item;
        if (_indexBy is null)
            return;
        if (previous is not null && _indexBy(previous) is { } old && old != _indexBy(item) && _index.TryGetValue(old, out var oldItems))
            oldItems.TryRemove(key, out _);
        if (_indexBy(item) is { } now)
            _index.GetOrAdd(now, _ => new())[key] = item;
    }

    private T? Remove((string?, string) key)
    {
        if (!_cache.TryRemove(key, out var gone))
            return default;
        if (_indexBy?.Invoke(gone) is { } old && _index.TryGetValue(old, out var items))
            items.TryRemove(key, out _);
        return gone;
    }

    private async Task<string> ListAsync(CancellationToken cancellationToken)
    {
        var (items, resourceVersion) = await source.List(cancellationToken);
        var seen = new HashSet<(string?, string)>();
        foreach (var item in items)
        {
            var key = Key(item);
            seen.Add(key);
            Store(key, item);
            Changed?.Invoke(WatchEventType.Modified, item);
        }

        foreach (var key in _cache.Keys.Where(k => !seen.Contains(k)).ToList())
        {
            if (Remove(key) is { } gone)
                Changed?.Invoke(WatchEventType.Deleted, gone);
        }

        HasSynced = true;
        return resourceVersion;
    }

    /// <summary>Watches until the server ends the watch; returns the resourceVersion to resume from, or null to re-list.</summary>
    private async Task<string?> WatchAsync(string resourceVersion, CancellationToken cancellationToken)
    {
        using var watchdog = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var timer = time.CreateTimer(_ => watchdog.Cancel(), null, watchdogTimeout, Timeout.InfiniteTimeSpan);
        Exception? serverError = null;

        // The server ends each watch after a random 5-10 minutes, as client-go's reflector asks it to.
        var timeoutSeconds = Random.Shared.Next(300, 600);
        try
        {
            await foreach (var (type, item) in source.Watch(resourceVersion, timeoutSeconds, e => serverError = e, watchdog.Token))
            {
                timer.Change(watchdogTimeout, Timeout.InfiniteTimeSpan);
                if (item?.Metadata?.ResourceVersion is { } version)
                    resourceVersion = version;
                switch (type)
                {
                    case WatchEventType.Added:
                    case WatchEventType.Modified:
                        Store(Key(item!), item!);
                        Changed?.Invoke(type, item!);
                        break;
                    case WatchEventType.Deleted:
                        Remove(Key(item!));
                        Changed?.Invoke(type, item!);
                        break;
                    case WatchEventType.Bookmark:
                    case WatchEventType.Error:
                    default:
                        break;
                }
            }
        }
        catch (OperationCanceledException) when (watchdog.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            LogWatchdog(logger, source.Description, watchdogTimeout.TotalSeconds);
            return null;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Gone)
        {
            return null;
        }

        if (serverError is not null)
        {
            // Typically 410 Gone: the resourceVersion is too old. A fresh list repairs the cache.
            LogWatchError(logger, source.Description, Describe(serverError));
            return null;
        }

        return resourceVersion;
    }

    private static (string? Namespace, string Name) Key(T item) => (item.Metadata.NamespaceProperty, item.Metadata.Name);

    private static string Describe(Exception e) => e switch
    {
        HttpOperationException http => $"HTTP {(int)http.Response.StatusCode} {http.Response.ReasonPhrase}",
        KubernetesException k8s => $"{k8s.Status?.Code} {k8s.Status?.Reason}: {k8s.Status?.Message}",
        _ => $"{e.GetType().Name}: {e.Message}",
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "Informer {Informer}: {Error}; retrying in {DelaySeconds:0.0}s")]
    private static partial void LogFailure(ILogger logger, string informer, string error, double delaySeconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Informer {Informer}: no event for {Seconds}s, restarting the watch")]
    private static partial void LogWatchdog(ILogger logger, string informer, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Informer {Informer}: watch ended with {Error}; re-listing")]
    private static partial void LogWatchError(ILogger logger, string informer, string error);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Informer {Informer}: re-listing")]
    private static partial void LogRelist(ILogger logger, string informer);
}
