using k8s;
using k8s.Models;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Informers;
using KeyRotator.Operator.Runtime;
using KeyRotator.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace KeyRotator.Operator.Tests.Kubernetes;

/// <summary>
/// The object client contract on the operator's real ObjectClient against the real kube-apiserver: the
/// answers the in-memory client gives in the reconciler tests are the API server's. The cache starts
/// empty (every read goes to the API server); "falls behind" registers informers that list once and
/// never hear of a change, the lag a slow watch gives.
/// </summary>
public sealed class ObjectClientContractTests(KubernetesEnvironment env) : ObjectClientContract, IAsyncDisposable
{
    private readonly ObjectCache _cache = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _informers = [];
    private ObjectClient? _client;

    protected override IObjectClient Client => _client ??= new ObjectClient(env.Admin, _cache);

    protected override Task<string> NamespaceAsync() => env.CreateNamespaceAsync("contract");

    protected override async Task DeleteAsSomeoneElseAsync<T>(string? ns, string name)
    {
        if (typeof(T) == typeof(V1Namespace))
            await env.Admin.CoreV1.DeleteNamespaceAsync(name);
        else if (typeof(T) == typeof(V1Alpha1SigningKeySet))
            await env.Admin.CustomObjects.DeleteNamespacedCustomObjectAsync(V1Alpha1SigningKeySet.Group, V1Alpha1SigningKeySet.Version, ns, V1Alpha1SigningKeySet.Plural, name);
        else
            throw new NotSupportedException(typeof(T).Name);
    }

    protected override async Task CacheFallsBehindAsync(string ns)
    {
        var configMaps = Frozen(ns, "ConfigMaps", async ct =>
        {
            var list = await env.Admin.CoreV1.ListNamespacedConfigMapAsync(ns, labelSelector: Labels.ManagedBySelector, cancellationToken: ct);
            return (list.Items, list.Metadata.ResourceVersion);
        });
        var secrets = Frozen(ns, "Secrets", async ct =>
        {
            var list = await env.Admin.CoreV1.ListNamespacedSecretAsync(ns, labelSelector: Labels.ManagedBySelector, cancellationToken: ct);
            return ((IList<V1Secret>)[.. list.Items.Select(SecretData.Strip)], list.Metadata.ResourceVersion);
        });
        _cache.Register(ns, configMaps);
        _cache.Register(ns, secrets);
        _informers.Add(configMaps.RunAsync(_stop.Token));
        _informers.Add(secrets.RunAsync(_stop.Token));
        await Eventually.HoldsAsync(() => Task.FromResult(configMaps.HasSynced && secrets.HasSynced), synced => synced, TimeSpan.FromSeconds(30), "the frozen informers listed");
    }

    /// <summary>An informer that lists once and then hears nothing (its watch never delivers).</summary>
    private static ResourceInformer<T> Frozen<T>(string ns, string what, Func<CancellationToken, Task<(IList<T> Items, string ResourceVersion)>> list)
        where T : IKubernetesObject<V1ObjectMeta> =>
        new(new ListWatch<T>($"{what} in {ns}, never watched", list, (_, _, _, ct) => Silent<T>(ct)), TimeProvider.System, TimeSpan.FromHours(1), NullLogger.Instance);

    private static async IAsyncEnumerable<(WatchEventType, T)> Silent<T>([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.Delay(Timeout.Infinite, cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
        yield break;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_informers);
        _stop.Dispose();
    }
}
