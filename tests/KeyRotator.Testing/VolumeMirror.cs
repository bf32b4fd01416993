using System.Diagnostics;
using System.Globalization;
using System.Text;
using k8s;
using k8s.Models;
using KeyRotator.Operator.Informers;

namespace KeyRotator.Testing;

/// <summary>
/// Does what the kubelet does for a ConfigMap or Secret volume, so that a service under test reads
/// the files exactly as in a pod: each update is written to a new timestamped directory, then the
/// "..data" symlink is swapped atomically; each key is a symlink through "..data".
/// </summary>
public sealed class VolumeMirror : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _watch;
    private int _version;
    private int _completed;
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _errors = new();

    private VolumeMirror(string directory, Func<CancellationToken, IAsyncEnumerable<IDictionary<string, byte[]>>> updates)
    {
        Directory = directory;
        _watch = RunAsync(updates);
    }

    public string Directory { get; }

    /// <summary>Updates completed: the files are readable through their links.</summary>
    public int Updates => Volatile.Read(ref _completed);

    public static VolumeMirror ForConfigMap(IKubernetes admin, string ns, string name) =>
        new(System.IO.Directory.CreateTempSubdirectory("configmap-").FullName, ct => Select(
            admin.WatchAsync<V1ConfigMap>(WatchRequest.Core("configmaps", ns) with { FieldSelector = $"metadata.name={name}" }, cancellationToken: ct),
            cm => cm.Data?.ToDictionary(d => d.Key, d => Encoding.UTF8.GetBytes(d.Value))));

    public static VolumeMirror ForSecret(IKubernetes admin, string ns, string name) =>
        new(System.IO.Directory.CreateTempSubdirectory("secret-").FullName, ct => Select(
            admin.WatchAsync<V1Secret>(WatchRequest.Core("secrets", ns) with { FieldSelector = $"metadata.name={name}" }, cancellationToken: ct),
            s => s.Data));

    private static async IAsyncEnumerable<IDictionary<string, byte[]>> Select<T>(IAsyncEnumerable<(WatchEventType, T)> events, Func<T, IDictionary<string, byte[]>?> data)
    {
        await foreach (var (type, item) in events)
        {
            if (type is WatchEventType.Added or WatchEventType.Modified && data(item) is { } files)
                yield return files;
        }
    }

    private async Task RunAsync(Func<CancellationToken, IAsyncEnumerable<IDictionary<string, byte[]>>> updates)
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await foreach (var files in updates(_stop.Token))
                    Write(files);
            }
            catch (Exception e) when (!_stop.IsCancellationRequested)
            {
                // A watch that fails is not a quiet volume: the test fails when the mirror is disposed.
                _errors.Enqueue($"{DateTimeOffset.UtcNow:HH:mm:ss.fff} {e.GetType().Name}: {e.Message}");
                await Task.Delay(TimeSpan.FromMilliseconds(200), CancellationToken.None);
            }
            catch (Exception)
            {
                return;
            }
        }
    }

    private void Write(IDictionary<string, byte[]> files)
    {
        var version = $"..{DateTime.UtcNow:yyyy_MM_dd_HH_mm_ss}.{Interlocked.Increment(ref _version).ToString(CultureInfo.InvariantCulture)}";
        var target = Path.Combine(Directory, version);
        System.IO.Directory.CreateDirectory(target);
        foreach (var (key, value) in files)
            File.WriteAllBytes(Path.Combine(target, key), value);
        var temp = Path.Combine(Directory, "..data_tmp");
        File.CreateSymbolicLink(temp, version);
        using (var mv = Process.Start("mv", ["-T", "-f", temp, Path.Combine(Directory, "..data")])!)
            mv.WaitForExit();
        foreach (var key in files.Keys)
        {
            var link = Path.Combine(Directory, key);
            if (!File.Exists(link))
                File.CreateSymbolicLink(link, Path.Combine("..data", key));
        }

        Interlocked.Increment(ref _completed);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _watch.ContinueWith(_ => { }, TaskScheduler.Default);
        _stop.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
        if (!_errors.IsEmpty)
            throw new InvalidOperationException($"the watch behind the volume mirror failed, so what it showed may be stale:\n{string.Join('\n', _errors)}");
    }
}
