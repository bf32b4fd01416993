using System.Collections.Concurrent;
using k8s;
using k8s.Models;
using KeyRotator.Operator.Informers;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Reconcile;

/// <summary>
/// What a new set costs the API server (issue #34: six writes a set, none in steady state), counted twice:
/// by the operator's own requests (every POST, PUT, PATCH and DELETE its client sends, Leases aside) and by
/// what the API server then tells a watcher of the namespace (every object added or changed), so that a write
/// through any other path would show up too. docs/benchmarks.md names each write and why it is needed.
/// </summary>
public sealed class ConvergenceWriteTests(KubernetesEnvironment env)
{
    [Fact]
    public async Task A_new_set_converges_in_six_writes_and_its_reconciles_after_that_write_nothing()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("six-writes", ct);
        var scenario = new OperatorScenario(env, ns);
        var requests = new WriteRecorder();
        await using var op = await OperatorInstance.StartAsync(env, [ns], handlers: [requests]);
        using var watching = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var seen = new ConcurrentQueue<string>();
        // Watched from the namespace's state before the set exists: every later change is delivered.
        var (configMaps, secrets, events) = (
            (await env.Admin.CoreV1.ListNamespacedConfigMapAsync(ns, cancellationToken: ct)).Metadata.ResourceVersion,
            (await env.Admin.CoreV1.ListNamespacedSecretAsync(ns, cancellationToken: ct)).Metadata.ResourceVersion,
            (await env.Admin.CoreV1.ListNamespacedEventAsync(ns, cancellationToken: ct)).Metadata.ResourceVersion);
        var watches = new[]
        {
            WatchAsync(env.Admin.WatchAsync<V1ConfigMap>(WatchRequest.Core("configmaps", ns) with { ResourceVersion = configMaps }, cancellationToken: watching.Token), "ConfigMap", seen, watching.Token),
            WatchAsync(env.Admin.WatchAsync<V1Secret>(WatchRequest.Core("secrets", ns) with { ResourceVersion = secrets }, cancellationToken: watching.Token), "Secret", seen, watching.Token),
            WatchAsync(env.Admin.WatchAsync<Corev1Event>(WatchRequest.Core("events", ns) with { ResourceVersion = events }, cancellationToken: watching.Token), "Event", seen, watching.Token),
        };

        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "2s" }).Build(), ct);
        var set = await scenario.WaitForActiveKeyAsync("auth");
        await op.WaitForQuietQueueAsync(ct);

        var sets = $"PUT /apis/keyrotator.io/v1alpha1/namespaces/{ns}/signingkeysets/auth";
        var core = $"/api/v1/namespaces/{ns}";
        Assert.Equal(
            [
                sets,                          // the finalizer, before anything it protects exists
                $"POST {core}/secrets",        // the key store: the private key, durable before it is published
                $"POST {core}/configmaps",     // the JWKS, once: it does not change when its only key starts signing
                $"{sets}/status",              // the key pending, and since when: the prePublish clock, across restarts
                $"POST {core}/secrets",        // the signing Secret, created with the key that now signs
                $"{sets}/status",              // the key active: Ready
            ],
            requests.Seen);

        // The API server saw the same: three objects created once each, and no Event.
        var objects = await Eventually.HoldsAsync(() => Task.FromResult(seen.ToList()), s => s.Count >= 3, TimeSpan.FromSeconds(10), "the watches", ct);
        Assert.Equal(["ADDED ConfigMap auth-jwks", "ADDED Secret auth-keyrotator-keys", "ADDED Secret auth-signing"], objects.Order(StringComparer.Ordinal));

        // Reconciles of the converged set write nothing.
        requests.Clear();
        var before = op.Controller.Reconciles;
        for (var i = 0; i < 5; i++)
        {
            op.Controller.Enqueue(new Operator.Runtime.SetKey(ns, "auth"));
            var reconciled = before + i + 1;
            await Eventually.HoldsAsync(() => Task.FromResult(op.Controller.Reconciles), r => r >= reconciled, TimeSpan.FromSeconds(10), "a reconcile", ct);
        }

        await op.WaitForQuietQueueAsync(ct);
        await watching.CancelAsync();
        await Task.WhenAll(watches);
        Assert.Empty(requests.Seen);
        Assert.Equal(3, seen.Count);
        Assert.Equal(set.Metadata.ResourceVersion, (await scenario.GetAsync("auth")).Metadata.ResourceVersion);
    }

    private static async Task WatchAsync<T>(IAsyncEnumerable<(WatchEventType, T)> watch, string kind, ConcurrentQueue<string> seen, CancellationToken window)
        where T : IKubernetesObject<V1ObjectMeta>
    {
        try
        {
            await foreach (var (type, item) in watch)
            {
                if (type is WatchEventType.Added or WatchEventType.Modified or WatchEventType.Deleted)
                    seen.Enqueue($"{type.ToString().ToUpperInvariant()} {kind} {item.Metadata.Name}");
            }
        }
        catch (Exception) when (window.IsCancellationRequested)
        {
        }
    }

    /// <summary>The writes the operator sends (Leases, its leader election, aside), as "VERB path".</summary>
    private sealed class WriteRecorder : DelegatingHandler
    {
        public ConcurrentQueue<string> Seen { get; private set; } = new();

        public void Clear() => Seen = new();

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var path = request.RequestUri!.AbsolutePath;
            if (request.Method != HttpMethod.Get && !path.Contains("/leases", StringComparison.Ordinal))
                Seen.Enqueue($"{request.Method} {path}");
            return base.SendAsync(request, cancellationToken);
        }
    }
}
