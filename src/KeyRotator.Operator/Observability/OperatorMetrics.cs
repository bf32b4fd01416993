using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Runtime;
using Prometheus;

namespace KeyRotator.Operator.Observability;

/// <summary>
/// The Prometheus metrics (docs/operations.md, "Metrics"; prefix keyrotator_), in a registry of this operator's own.
/// Per-set series carry namespace and name labels and disappear when the set does.
/// </summary>
public sealed class OperatorMetrics : IRemembersSets
{
    private static readonly string[] SetLabels = ["namespace", "name"];
    private readonly TimeProvider _time;

    public OperatorMetrics(TimeProvider time)
    {
        _time = time;
        Registry = Metrics.NewCustomRegistry();
        var factory = Metrics.WithCustomRegistry(Registry);

        Ready = factory.CreateGauge("keyrotator_signingkeyset_ready", "1 when the set has an active, published key and a valid spec.", SetLabels);
        ActiveKeyCreated = factory.CreateGauge("keyrotator_active_key_created_timestamp_seconds", "When the active key was created (published).", SetLabels);
        ActiveKeyActivated = factory.CreateGauge("keyrotator_active_key_activated_timestamp_seconds", "When the active key started signing.", SetLabels);
        NextRotation = factory.CreateGauge("keyrotator_next_rotation_timestamp_seconds", "When the next key starts signing.", SetLabels);
        PublishedKeys = factory.CreateGauge("keyrotator_keys", "Keys of the set by state (Pending, Active and Retiring are published).", [.. SetLabels, "state"]);
        Rotations = factory.CreateCounter("keyrotator_rotations_total", "Keys that started signing, by trigger (initial, scheduled, manual, revocation).", [.. SetLabels, "trigger"]);
        RotationErrors = factory.CreateCounter("keyrotator_rotation_errors_total", "Failed rotation steps, by stage (validation, vault, reconcile).", [.. SetLabels, "stage"]);
        SignatureFailures = factory.CreateCounter("keyrotator_signature_failures_total", "Signature-validation failures reported by verifiers, by reason.", [.. SetLabels, "reason"]);
        FailureSpike = factory.CreateGauge("keyrotator_signature_failure_spike", "1 while reported failures spike; labels name the dominant reason and kid.", [.. SetLabels, "reason", "kid"]);
        ReconcileDuration = factory.CreateHistogram("keyrotator_reconcile_duration_seconds", "Reconcile duration by result.", new HistogramConfiguration
        {
            LabelNames = ["result"],
            Buckets = Histogram.ExponentialBuckets(0.005, 2, 12),
        });
        QueueDepth = factory.CreateGauge("keyrotator_workqueue_depth", "Sets waiting to be reconciled.");
        VaultRequestDuration = factory.CreateHistogram("keyrotator_vault_request_duration_seconds", "Vault requests by provider, operation and outcome.", new HistogramConfiguration
        {
            LabelNames = ["provider", "operation", "outcome"],
            Buckets = Histogram.ExponentialBuckets(0.005, 2, 12),
        });
        Verifiers = factory.CreateGauge("keyrotator_verifiers", "Verifiers heard within the propagation window (heartbeats, reports, JWKS fetches).", SetLabels);
        VerifiersWithActiveKey = factory.CreateGauge("keyrotator_verifiers_with_active_key", "Verifiers whose JWKS holds the active key.", SetLabels);
        VerifiersWithNextKey = factory.CreateGauge("keyrotator_verifiers_with_next_key", "Verifiers whose JWKS holds the pending key (absent when none is pending).", SetLabels);
        Signers = factory.CreateGauge("keyrotator_signers", "Signers heard within the propagation window.", SetLabels);
        PropagationIncomplete = factory.CreateGauge("keyrotator_propagation_incomplete", "1 while verifiers or signers heard within the window lack a key in use past maxActivationDelay or the overlap (condition PropagationIncomplete).", SetLabels);
        SignersOnActiveKey = factory.CreateGauge("keyrotator_signers_on_active_key", "Signers that sign with the active key.", SetLabels);
        PublishRequests = factory.CreateCounter("keyrotator_publish_target_requests_total", "Requests to external publication targets (every attempt, retries included), by target, HTTP method and answer (status code, or unreachable).", ["target", "method", "code"]);
        PublishThrottledSeconds = factory.CreateCounter("keyrotator_publish_target_throttled_seconds_total", "Time requests to an external target waited because the storage account answered 503 ServerBusy or 429 (Retry-After honoured by every worker).", ["target"]);
        JwksRequests = factory.CreateCounter("keyrotator_jwks_http_requests_total", "JWKS and discovery requests served over HTTP, by document and status code (304: the client's copy was current).", ["document", "code"]);
        Leader = factory.CreateGauge("keyrotator_leader", "1 on the replica that holds the lease.");
        Clock = factory.CreateGauge("keyrotator_clock_time_seconds", "The operator's clock, for skew-safe alert arithmetic (time() - this).");
        WatchHealthy = factory.CreateGauge("keyrotator_watch_healthy", "1 while every informer holds a live watch.");
        ApiThrottled = factory.CreateCounter("keyrotator_api_throttled_total", "Kubernetes API requests held back: by the operator's own rate limit (by=client) or answered 429 by the API server's priority and fairness, then retried (by=server).", ["by"]);
        ApiThrottledSeconds = factory.CreateCounter("keyrotator_api_throttled_seconds_total", "Time Kubernetes API requests spent waiting on a rate limit before being sent or retried, by whose limit.", ["by"]);
        Registry.AddBeforeCollectCallback(() =>
        {
            Clock.Set(_time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0);
            BeforeCollect?.Invoke();
        });
    }

    public CollectorRegistry Registry { get; }

    public Counter ApiThrottled { get; }

    public Counter ApiThrottledSeconds { get; }

    /// <summary>Runs before each scrape, to sample gauges owned by other components.</summary>
    public event Action? BeforeCollect;

    public Gauge Ready { get; }

    public Gauge ActiveKeyCreated { get; }

    public Gauge ActiveKeyActivated { get; }

    public Gauge NextRotation { get; }

    public Gauge PublishedKeys { get; }

    public Counter Rotations { get; }

    public Counter RotationErrors { get; }

    public Counter SignatureFailures { get; }

    public Gauge FailureSpike { get; }

    public Histogram ReconcileDuration { get; }

    public Gauge QueueDepth { get; }

    public Histogram VaultRequestDuration { get; }

    public Counter JwksRequests { get; }

    public Counter PublishRequests { get; }

    public Counter PublishThrottledSeconds { get; }

    public Gauge Verifiers { get; }

    public Gauge VerifiersWithActiveKey { get; }

    public Gauge VerifiersWithNextKey { get; }

    public Gauge Signers { get; }

    public Gauge SignersOnActiveKey { get; }

    public Gauge PropagationIncomplete { get; }

    public Gauge Leader { get; }

    public Gauge Clock { get; }

    public Gauge WatchHealthy { get; }

    /// <summary>Mirrors a set's status into its gauges.</summary>
    public void ObserveSet(string ns, string name, SigningKeySetStatus status)
    {
        Ready.WithLabels(ns, name).Set(ConditionSet.IsTrue(status.Conditions, ConditionSet.Ready) ? 1 : 0);
        var keys = status.Keys ?? [];
        var active = keys.FirstOrDefault(k => k.State == KeyState.Active);
        SetOrRemove(ActiveKeyCreated, ns, name, active?.CreatedAt);
        SetOrRemove(ActiveKeyActivated, ns, name, active?.ActivatedAt);
        SetOrRemove(NextRotation, ns, name, status.NextRotationTime);
        foreach (var state in new[] { KeyState.Pending, KeyState.Active, KeyState.Retiring, KeyState.Retired, KeyState.Revoked })
            PublishedKeys.WithLabels(ns, name, state).Set(keys.Count(k => k.State == state));
        var propagation = status.Propagation;
        SetOrRemove(Verifiers, ns, name, propagation?.Verifiers);
        SetOrRemove(VerifiersWithActiveKey, ns, name, propagation?.VerifiersWithActiveKey);
        SetOrRemove(VerifiersWithNextKey, ns, name, propagation?.VerifiersWithNextKey);
        SetOrRemove(Signers, ns, name, propagation?.Signers);
        SetOrRemove(SignersOnActiveKey, ns, name, propagation?.SignersOnActiveKey);
        SetOrRemove(PropagationIncomplete, ns, name, ConditionSet.Find(status.Conditions, ConditionSet.PropagationIncomplete) is { } incomplete ? (incomplete.Status == "True" ? 1 : 0) : null);
    }

    private static void SetOrRemove(Gauge gauge, string ns, string name, int? value)
    {
        if (value is { } v)
            gauge.WithLabels(ns, name).Set(v);
        else
            gauge.RemoveLabelled(ns, name);
    }

    /// <summary>The set is gone: so are its series.</summary>
    public void Forget(SetKey set, string? uid)
    {
        var (ns, name) = (set.Namespace, set.Name);
        foreach (var metric in new Collector[] { Ready, ActiveKeyCreated, ActiveKeyActivated, NextRotation, PublishedKeys, Rotations, RotationErrors, SignatureFailures, FailureSpike, Verifiers, VerifiersWithActiveKey, VerifiersWithNextKey, Signers, SignersOnActiveKey, PropagationIncomplete })
        {
            foreach (var labels in LabelValues(metric).Where(l => l.Length >= 2 && l[0] == ns && l[1] == name).ToList())
                Remove(metric, labels);
        }
    }

    private static void SetOrRemove(Gauge gauge, string ns, string name, DateTimeOffset? time)
    {
        if (time is { } t)
            gauge.WithLabels(ns, name).Set(t.ToUnixTimeMilliseconds() / 1000.0);
        else
            gauge.RemoveLabelled(ns, name);
    }

    private static IEnumerable<string[]> LabelValues(Collector metric) => metric switch
    {
        Gauge g => g.GetAllLabelValues(),
        Counter c => c.GetAllLabelValues(),
        _ => [],
    };

    private static void Remove(Collector metric, string[] labels)
    {
        switch (metric)
        {
            case Gauge g:
                g.RemoveLabelled(labels);
                break;
            case Counter c:
                c.RemoveLabelled(labels);
                break;
        }
    }
}
