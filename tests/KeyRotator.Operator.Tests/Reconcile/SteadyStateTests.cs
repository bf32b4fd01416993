using System.Collections.Concurrent;
using k8s;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Informers;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Reconcile;

public sealed class SteadyStateTests(KubernetesEnvironment env)
{
    private const int Sets = 50;
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Fifty_sets_with_no_rotation_due_cause_zero_writes_in_a_minute_apart_from_lease_renewals()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("steady", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        for (var i = 0; i < Sets; i++)
        {
            await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named($"set-{i:00}", ns)
                .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
                .Build(), ct);
        }

        await Eventually.HoldsAsync(() => scenario.Sets.ListAsync(ns, ct),
            l => l.Items.Count == Sets && l.Items.All(s => s.Status?.ActiveKeyId is not null && ConditionSet.IsTrue(s.Status.Conditions, ConditionSet.Ready)),
            TimeSpan.FromSeconds(120), "all sets active", ct);
        // Let the reconciles that our own last writes triggered drain, as the queue would in production.
        await op.WaitForQuietQueueAsync(ct, TimeSpan.FromSeconds(30));
        var reconcilesBefore = op.Controller.Reconciles;

        var writes = new ConcurrentQueue<string>();
        var leaseRenewals = 0;
        using var window = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var watchers = new[]
        {
            Count("ConfigMaps", env.Admin.CoreV1.ListNamespacedConfigMapAsync(ns, cancellationToken: ct), rv => env.Admin.WatchAsync<V1ConfigMap>(WatchRequest.Core("configmaps", ns) with { ResourceVersion = rv }, cancellationToken: window.Token), o => $"ConfigMap {o.Metadata.Name}", writes, window.Token),
            Count("Secrets", env.Admin.CoreV1.ListNamespacedSecretAsync(ns, cancellationToken: ct), rv => env.Admin.WatchAsync<V1Secret>(WatchRequest.Core("secrets", ns) with { ResourceVersion = rv }, cancellationToken: window.Token), o => $"Secret {o.Metadata.Name}", writes, window.Token),
            Count("Events", env.Admin.CoreV1.ListNamespacedEventAsync(ns, cancellationToken: ct), rv => env.Admin.WatchAsync<Corev1Event>(WatchRequest.Core("events", ns) with { ResourceVersion = rv }, cancellationToken: window.Token), o => $"Event {o.Reason} {o.Message}", writes, window.Token),
            CountSets(ns, writes, window.Token),
            Count("Leases", env.Admin.CoordinationV1.ListNamespacedLeaseAsync(ns, cancellationToken: ct), rv => env.Admin.WatchAsync<V1Lease>(WatchRequest.Group("coordination.k8s.io", "v1", "leases", ns) with { ResourceVersion = rv }, cancellationToken: window.Token), _ => "lease", null, window.Token, () => Interlocked.Increment(ref leaseRenewals)),
        };

        await Task.Delay(Window, ct);
        await window.CancelAsync();
        await Task.WhenAll(watchers);

        Assert.True(writes.IsEmpty, $"{writes.Count} writes in steady state:\n{string.Join('\n', writes.Take(20))}");
        Assert.True(leaseRenewals > 0, "the lease renewals are seen, so the watches were live");
        TestContext.Current.SendDiagnosticMessage($"steady state: 0 writes, {leaseRenewals} lease renewals, {op.Controller.Reconciles - reconcilesBefore} reconciles in {Window}");
    }

    /// <summary>
    /// Records every change the watch sees until <paramref name="window"/> ends. A watch that fails or ends
    /// before then fails the test: a dead watch would otherwise read as "no writes".
    /// </summary>
    private static async Task Count<T, TList>(
        string what, Task<TList> list, Func<string, IAsyncEnumerable<(WatchEventType, T)>> watch, Func<T, string> describe, ConcurrentQueue<string>? writes, CancellationToken window, Action? onWrite = null)
        where TList : IKubernetesObject<V1ListMeta>
    {
        var resourceVersion = (await list).Metadata.ResourceVersion;
        try
        {
            await foreach (var (type, item) in watch(resourceVersion))
            {
                if (type is WatchEventType.Bookmark)
                    continue;
                if (type is WatchEventType.Error)
                    throw new InvalidOperationException($"the watch of {what} answered an error event before the window ended");
                writes?.Enqueue($"{type} {describe(item)}");
                onWrite?.Invoke();
            }
        }
        catch (Exception) when (window.IsCancellationRequested)
        {
            return;
        }
        catch (Exception e) when (e is not InvalidOperationException)
        {
            throw new InvalidOperationException($"the watch of {what} failed before the window ended ({e.GetType().Name}: {e.Message}), so its silence proves nothing", e);
        }

        if (!window.IsCancellationRequested)
            throw new InvalidOperationException($"the watch of {what} ended before the window did, so its silence proves nothing");
    }

    private async Task CountSets(string ns, ConcurrentQueue<string> writes, CancellationToken window)
    {
        var list = await new KeyRotator.Model.Kubernetes.SigningKeySetClient(env.Admin).ListAsync(ns, window);
        await Count("SigningKeySets", Task.FromResult(list),
            rv => env.Admin.WatchAsync<V1Alpha1SigningKeySet>(WatchRequest.Group(V1Alpha1SigningKeySet.Group, V1Alpha1SigningKeySet.Version, V1Alpha1SigningKeySet.Plural, ns) with { ResourceVersion = rv }, cancellationToken: window),
            item => $"SigningKeySet {KubernetesJson.Serialize(item)[..Math.Min(300, KubernetesJson.Serialize(item).Length)]}", writes, window);
    }
}
