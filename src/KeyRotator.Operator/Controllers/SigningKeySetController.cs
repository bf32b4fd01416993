using System.Collections.Concurrent;
using k8s;
using k8s.Autorest;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Configuration;
using KeyRotator.Operator.Informers;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Observability;
using KeyRotator.Operator.Publishing;
using KeyRotator.Operator.Runtime;
using KeyRotator.Operator.Scheduling;
using KeyRotator.Operator.Vault;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.Controllers;

/// <summary>
/// Informers for SigningKeySets and the ConfigMaps and Secrets made for them feed one work queue;
/// workers (on the leader only) reconcile each set, and the rotation scheduler wakes sets when a transition is due.
/// An edit to a ConfigMap or Secret the operator wrote for a set wakes that set, which restores it; a
/// labelled object it did not write for the set (another namespace's, another UID's) wakes nothing.
/// </summary>
public sealed partial class SigningKeySetController : ISigningKeySets, IDisposable
{
    private readonly SigningKeySetReconciler _reconciler;
    private readonly RotationScheduler _scheduler;
    private readonly OperatorMetrics _metrics;
    private readonly OperatorOptions _options;
    private readonly ILogger<SigningKeySetController> _logger;
    private readonly List<ResourceInformer<V1Alpha1SigningKeySet>> _setInformers = [];
    private readonly List<ResourceInformer<V1ConfigMap>> _configMapInformers = [];
    private readonly List<ResourceInformer<V1Secret>> _secretInformers = [];
    private long _reconciles;
    private readonly SetReporter _reporter;
    private readonly SetMemory _memory;

    // SigningKeySets that do not decode, by namespace/name, and the resourceVersion whose Event was recorded (null: not yet).
    private readonly ConcurrentDictionary<string, (UndecodableObject Item, string? Reported)> _undecodable = new(StringComparer.Ordinal);
    private long _failures;

    public SigningKeySetController(
        IKubernetes kubernetes,
        SigningKeySetReconciler reconciler,
        RotationScheduler scheduler,
        OperatorMetrics metrics,
        SetReporter reporter,
        PropagationTracker propagation,
        ObjectCache cache,
        KeyGenerator keys,
        SetMemory memory,
        TimeProvider time,
        IOptions<OperatorOptions> options,
        ILoggerFactory loggers)
    {
        _reconciler = reconciler;
        _memory = memory;
        _reporter = reporter;
        _scheduler = scheduler;
        _metrics = metrics;
        _options = options.Value;
        _logger = loggers.CreateLogger<SigningKeySetController>();
        Queue = new WorkQueue<SetKey>(time, baseDelay: TimeSpan.FromMilliseconds(200), maxDelay: TimeSpan.FromMinutes(5));
        keys.Generated += (ns, name) => Enqueue(new SetKey(ns, name));

        var informerLogger = loggers.CreateLogger("KeyRotator.Operator.Informers");
        IEnumerable<string?> scopes = _options.WatchNamespaces.Count == 0 ? [null] : _options.WatchNamespaces.Select(n => (string?)n);
        foreach (var ns in scopes)
        {
            var sets = new ResourceInformer<V1Alpha1SigningKeySet>(
                InformerSources.SigningKeySets(kubernetes, ns, item => OnUndecodable(item, informerLogger)), time, _options.WatchdogTimeout, informerLogger);
            sets.Changed += (type, set) =>
            {
                _undecodable.TryRemove($"{set.Metadata.NamespaceProperty}/{set.Metadata.Name}", out var _);
                MirrorStatus(type, set);
                Enqueue(new SetKey(set.Metadata.NamespaceProperty, set.Metadata.Name));
            };
            _setInformers.Add(sets);
            cache.Register(sets);

            var configMaps = new ResourceInformer<V1ConfigMap>(InformerSources.ConfigMaps(kubernetes, ns), time, _options.WatchdogTimeout, informerLogger);
            configMaps.Changed += (type, cm) =>
            {
                if (SetWrittenFor(cm.Metadata) is not { } set)
                    return;
                if (type != WatchEventType.Deleted && IsOwnJwks(cm, set) && cm.Data?.TryGetValue(JwksPublisher.JwksKey, out var jwks) == true && jwks is not null)
                    propagation.Published(set.Metadata.NamespaceProperty, set.Metadata.Name, jwks);
                Enqueue(new SetKey(set.Metadata.NamespaceProperty, set.Metadata.Name));
            };
            _configMapInformers.Add(configMaps);
            cache.Register(ns, configMaps);

            var secrets = new ResourceInformer<V1Secret>(InformerSources.Secrets(kubernetes, ns), time, _options.WatchdogTimeout, informerLogger);
            secrets.Changed += (_, secret) =>
            {
                if (SetWrittenFor(secret.Metadata) is { } set)
                    Enqueue(new SetKey(set.Metadata.NamespaceProperty, set.Metadata.Name));
            };
            _secretInformers.Add(secrets);
            cache.Register(ns, secrets);
        }
    }

    public WorkQueue<SetKey> Queue { get; }

    /// <summary>Every informer has listed and holds a live watch.</summary>
    public bool InformersHealthy => Informers.All(i => i.IsHealthy);

    public bool WorkersRunning { get; private set; }

    public long Reconciles => Interlocked.Read(ref _reconciles);

    public long ReconcileFailures => Interlocked.Read(ref _failures);

    private IEnumerable<(string Description, bool IsHealthy, bool HasSynced)> InformerStates =>
        _setInformers.Select(i => (i.Description, i.IsHealthy, i.HasSynced))
            .Concat(_configMapInformers.Select(i => (i.Description, i.IsHealthy, i.HasSynced)))
            .Concat(_secretInformers.Select(i => (i.Description, i.IsHealthy, i.HasSynced)));

    private IEnumerable<(string Description, bool IsHealthy, bool HasSynced)> Informers => InformerStates;

    public IReadOnlyList<string> UnhealthyInformers => [.. Informers.Where(i => !i.IsHealthy).Select(i => i.Description)];

    public IEnumerable<V1Alpha1SigningKeySet> CachedSets => _setInformers.SelectMany(i => i.Items);

    /// <summary>Whether every informer has listed once (its cache can be trusted to answer "not there").</summary>
    public bool CachesSynced => Informers.All(i => i.HasSynced);

    /// <summary>A set as the informer holds it; no API call.</summary>
    public V1Alpha1SigningKeySet? CachedSet(string ns, string name) =>
        _setInformers.Select(i => i.Get(ns, name)).FirstOrDefault(s => s is not null);

    /// <summary>A managed ConfigMap as the informer holds it; no API call.</summary>
    public V1ConfigMap? CachedConfigMap(string ns, string name) =>
        _configMapInformers.Select(i => i.Get(ns, name)).FirstOrDefault(c => c is not null);

    public void Enqueue(SetKey key) => Queue.Add(key);

    /// <summary>
    /// Every replica, the standby too, exports each set's status gauges (readiness, keys, next rotation,
    /// propagation) from the status it watches. Alert rules take the max over replicas, so a failover
    /// neither hides a per-set alert (the killed leader's series go stale, the standby's remain) nor
    /// raises it twice.
    /// </summary>
    private void MirrorStatus(WatchEventType type, V1Alpha1SigningKeySet set)
    {
        // A set that went is forgotten by every replica (the event names its UID); the leader's reconcile,
        // which finds it gone, forgets again by name.
        if (type == WatchEventType.Deleted)
            _memory.Forget(new SetKey(set.Metadata.NamespaceProperty, set.Metadata.Name), set.Metadata.Uid);
        else if (type != WatchEventType.Deleted && set.Status is { } status)
            _reporter.Mirror(set, status);
    }

    /// <summary>
    /// The set a labelled ConfigMap or Secret was written for, if the operator wrote it for that set: its
    /// labels name a set this operator watches, and it is owned by that set's UID in the set's namespace or
    /// one the set lists (<see cref="Ownership.IsWrittenFor"/>). Any namespace can put the labels on an
    /// object; only the set's own objects wake it (so that an edit is restored), and nothing else does.
    /// </summary>
    private V1Alpha1SigningKeySet? SetWrittenFor(V1ObjectMeta metadata) =>
        metadata.Labels is { } labels
        && labels.TryGetValue(Labels.SetNamespace, out var ns)
        && labels.TryGetValue(Labels.SetName, out var name)
        && CachedSet(ns, name) is { } set
        && Ownership.IsWrittenFor(metadata, set)
            ? set
            : null;

    /// <summary>
    /// The set's own JWKS ConfigMap (in its namespace, under its configMapName): what it holds after a restart
    /// or on a standby is what the operator last published for the set. Copies in other namespaces teach
    /// nothing (the operator writes them the same document, and their namespaces can edit them).
    /// </summary>
    private static bool IsOwnJwks(V1ConfigMap configMap, V1Alpha1SigningKeySet set) =>
        configMap.Metadata.NamespaceProperty == set.Metadata.NamespaceProperty && configMap.Metadata.Name == JwksPublisher.ConfigMapName(set);

    /// <summary>Runs the informers (on every replica, so a standby takes over with warm caches).</summary>
    public Task RunInformersAsync(CancellationToken cancellationToken) =>
        Task.WhenAll(_setInformers.Select(i => i.RunAsync(cancellationToken))
            .Concat(_configMapInformers.Select(i => i.RunAsync(cancellationToken)))
            .Concat(_secretInformers.Select(i => i.RunAsync(cancellationToken))));

    /// <summary>Reconciles until <paramref name="cancellationToken"/> fires (leadership lost or shutdown).</summary>
    public async Task RunWorkersAsync(CancellationToken cancellationToken)
    {
        while (!Informers.All(i => i.HasSynced))
            await Task.Delay(100, cancellationToken);

        _scheduler.Start(Enqueue);
        try
        {
            foreach (var set in CachedSets)
                Enqueue(new SetKey(set.Metadata.NamespaceProperty, set.Metadata.Name));
            WorkersRunning = true;
            foreach (var (item, _) in _undecodable.Values)
                ReportUndecodable(item);
            LogLeading(_logger, _options.Workers);
            await Task.WhenAll(Enumerable.Range(0, Math.Max(1, _options.Workers)).Select(_ => WorkAsync(cancellationToken)));
        }
        finally
        {
            WorkersRunning = false;
            _scheduler.Stop();
        }
    }

    private async Task WorkAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            SetKey key;
            try
            {
                key = await Queue.TakeAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            var clock = System.Diagnostics.Stopwatch.StartNew();
            var outcome = "error";
            try
            {
                Interlocked.Increment(ref _reconciles);
                var result = await _reconciler.ReconcileAsync(key.Namespace, key.Name, cancellationToken);
                outcome = result.Retry ? "retry" : "success";
                if (result.Retry)
                {
                    Queue.AddRateLimited(key);
                }
                else
                {
                    Queue.Forget(key);
                    if (result.WakeAt is { } wakeAt)
                        _scheduler.ScheduleWake(key, wakeAt);
                    else
                        _scheduler.Unschedule(key);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // A reconcile failure never stops the worker: count it, say what failed, retry with backoff.
                Interlocked.Increment(ref _failures);
                _reporter.CountReconcileFailure(key.Namespace, key.Name);
                var delay = Queue.AddRateLimited(key);
                LogReconcileFailed(_logger, key.ToString(), Describe(e), delay.TotalSeconds);
                await _reconciler.ReportFailureAsync(key.Namespace, key.Name, e, cancellationToken);
            }
            finally
            {
                _metrics.ReconcileDuration.WithLabels(outcome).Observe(clock.Elapsed.TotalSeconds);
                Queue.Done(key);
            }
        }
    }

    /// <summary>An exception as a log line: the API status or the exception type, never a response body.</summary>
    private static string Describe(Exception e) => e switch
    {
        HttpOperationException http => $"API server answered {(int)http.Response.StatusCode} {http.Response.ReasonPhrase} to {http.Request?.Method} {http.Request?.RequestUri?.AbsolutePath}",
        _ => $"{e.GetType().Name}: {e.Message}",
    };

    public void Dispose() => Queue.Dispose();

    [LoggerMessage(Level = LogLevel.Information, Message = "Leading: reconciling SigningKeySets with {Workers} workers")]
    private static partial void LogLeading(ILogger logger, int workers);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reconcile of {Set} failed, retrying in {DelaySeconds:0.0}s: {Error}")]
    private static partial void LogReconcileFailed(ILogger logger, string set, string error, double delaySeconds);
}
