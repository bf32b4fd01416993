using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using k8s;
using KeyRotator.Model.Jose;
using KeyRotator.Operator.Publishing;

namespace KeyRotator.Operator.Tests.Reconcile;

/// <summary>
/// Watches a set's JWKS ConfigMap and signing Secret and records, on one clock, which kids were
/// published and which kid was signing at every change a watcher could see.
/// </summary>
internal sealed class RotationTimeline : IAsyncDisposable
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _watchers;
    private readonly ConcurrentQueue<string> _errors = new();

    public RotationTimeline(IKubernetes admin, string ns, string configMap, string secret)
    {
        _watchers = Task.WhenAll(
            WatchAsync(() => admin.CoreV1.WatchListNamespacedConfigMapAsync(ns, fieldSelector: $"metadata.name={configMap}", cancellationToken: _stop.Token), cm =>
            {
                if (cm.Data?.TryGetValue(JwksPublisher.JwksKey, out var json) == true)
                    Published.Enqueue((_clock.Elapsed, JwksDocument.Parse(json).Keys.Select(k => k.Kid).ToList()));
            }),
            WatchAsync(() => admin.CoreV1.WatchListNamespacedSecretAsync(ns, fieldSelector: $"metadata.name={secret}", cancellationToken: _stop.Token), s =>
            {
                if (s.Data?.TryGetValue(SigningSecretPublisher.KidKey, out var kid) == true)
                    Signing.Enqueue((_clock.Elapsed, Encoding.UTF8.GetString(kid)));
            }));
    }

    public ConcurrentQueue<(TimeSpan At, List<string> Kids)> Published { get; } = new();

    public ConcurrentQueue<(TimeSpan At, string Kid)> Signing { get; } = new();

    /// <summary>When each kid first signed, in order.</summary>
    public List<(string Kid, TimeSpan From)> Activations() =>
        Signing.GroupBy(s => s.Kid).Select(g => (g.Key, g.Min(s => s.At))).OrderBy(a => a.Item2).ToList();

    public TimeSpan? FirstPublished(string kid) => Published.Where(p => p.Kids.Contains(kid)).Select(p => (TimeSpan?)p.At).FirstOrDefault();

    /// <summary>The first JWKS change after <paramref name="after"/> that no longer lists <paramref name="kid"/>.</summary>
    public TimeSpan? Unpublished(string kid, TimeSpan after) =>
        Published.Where(p => p.At > after && !p.Kids.Contains(kid)).Select(p => (TimeSpan?)p.At).FirstOrDefault();

    public List<string>? PublishedAt(TimeSpan at) => Published.LastOrDefault(p => p.At <= at).Kids;

    public string? SigningAt(TimeSpan at) => Signing.LastOrDefault(s => s.At <= at).Kid;

    private async Task WatchAsync<T>(Func<IAsyncEnumerable<(WatchEventType, T)>> watch, Action<T> record)
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await foreach (var (type, item) in watch())
                {
                    if (type is WatchEventType.Added or WatchEventType.Modified)
                        record(item);
                }
            }
            catch (Exception e) when (!_stop.IsCancellationRequested)
            {
                // A watch that fails is not a quiet timeline: the test fails when the timeline is disposed.
                // (A watch the server closes ends without an exception and is simply opened again.)
                _errors.Enqueue($"{_clock.Elapsed} {e.GetType().Name}: {e.Message}");
                await Task.Delay(TimeSpan.FromMilliseconds(200), CancellationToken.None);
            }
            catch (Exception)
            {
                return;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _watchers.ContinueWith(_ => { }, TaskScheduler.Default);
        _stop.Dispose();
        if (!_errors.IsEmpty)
            throw new InvalidOperationException($"a watch of the rotation timeline failed, so what it recorded may have gaps:\n{string.Join('\n', _errors)}");
    }
}
