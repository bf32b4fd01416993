using System.Collections.Concurrent;
using KeyRotator.Core.Keys;
using KeyRotator.Operator.Runtime;

namespace KeyRotator.Operator.Vault;

/// <summary>
/// Generates RSA keys for the Kubernetes vault off the reconcile workers. An RSA key takes tens to
/// hundreds of milliseconds of CPU (seconds for 4096 bits); a worker that waited for it would hold its
/// slot while other sets' writes queue behind it. Instead the reconcile asks for the key
/// (<see cref="IsReady"/>), goes on with what it can do, and the set is reconciled again when the key is
/// there (<see cref="Generated"/>).
/// Keys are made on dedicated threads, one per core, started on the first request: not on the .NET
/// thread pool, which would see its threads held for long stretches, add threads to make up for them,
/// and burn CPU spinning them (measured: twice the key generation's own CPU for 1,000 RSA sets).
/// EC keys take well under a millisecond and are generated where they are needed.
/// A generated key stays in memory only until its set stores it, or is dropped with the set.
/// </summary>
public sealed class KeyGenerator : IRemembersSets, IDisposable
{
    private readonly ConcurrentDictionary<(string Uid, long Generation), Task<PrivateSigningKey>> _keys = new();
    private readonly BlockingCollection<(KeySetContext Set, TaskCompletionSource<PrivateSigningKey> Done)> _requests = [];
    private readonly Lock _startLock = new();
    private bool _started;

    /// <summary>A key finished generating for the set (namespace, name): reconcile it again.</summary>
    public event Action<string, string>? Generated;

    /// <summary>Keys being generated or waiting to be stored.</summary>
    public int Pending => _keys.Count;

    /// <summary>
    /// True when the key for <paramref name="generation"/> can be taken without waiting: an EC key, or
    /// an RSA key generated already. Otherwise starts generating it (once) and returns false.
    /// </summary>
    public bool IsReady(KeySetContext set, long generation)
    {
        if (!set.Policy.Algorithm.IsRsa)
            return true;
        foreach (var stale in _keys.Keys.Where(k => k.Uid == set.Uid && k.Generation != generation))
            _keys.TryRemove(stale, out _);
        return _keys.GetOrAdd((set.Uid, generation), _ => Start(set)).IsCompleted;
    }

    /// <summary>The key for <paramref name="generation"/>: the one generated in the background if there is one, else made now.</summary>
    public PrivateSigningKey Take(KeySetContext set, long generation)
    {
        if (_keys.TryRemove((set.Uid, generation), out var generating) && generating.IsCompletedSuccessfully)
            return generating.Result;
        return PrivateSigningKey.Generate(set.Policy.Algorithm, set.Policy.RsaKeySize);
    }

    /// <summary>The set is gone: drop any key generated for it.</summary>
    public void Forget(SetKey set, string? uid)
    {
        foreach (var key in _keys.Keys.Where(k => k.Uid == uid))
            _keys.TryRemove(key, out _);
    }

    /// <summary>Idempotent: the container disposes this once as itself and once as each interface it is registered under.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _requests.CompleteAdding();
        _requests.Dispose();
    }

    private int _disposed;

    private Task<PrivateSigningKey> Start(KeySetContext set)
    {
        StartThreads();

        // Continuations run after the task has completed (and off the generating thread), so that the
        // reconcile they wake finds the key ready.
        var done = new TaskCompletionSource<PrivateSigningKey>(TaskCreationOptions.RunContinuationsAsynchronously);
        done.Task.ContinueWith(_ => Generated?.Invoke(set.Namespace, set.Name), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        _requests.Add((set, done));
        return done.Task;
    }

    private void StartThreads()
    {
        lock (_startLock)
        {
            if (_started)
                return;
            _started = true;
            for (var i = 0; i < Environment.ProcessorCount; i++)
                new Thread(Generate) { IsBackground = true, Name = "KeyRotator keys" }.Start();
        }
    }

    private void Generate()
    {
        BackgroundPriority.LowerCurrentThread();
        try
        {
            foreach (var (set, done) in _requests.GetConsumingEnumerable())
            {
                try
                {
                    done.SetResult(PrivateSigningKey.Generate(set.Policy.Algorithm, set.Policy.RsaKeySize));
                }
                catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or ArgumentException)
                {
                    done.SetException(e);
                }
            }
        }
        catch (ObjectDisposedException)
        {
            // The operator is shutting down.
        }
    }
}
