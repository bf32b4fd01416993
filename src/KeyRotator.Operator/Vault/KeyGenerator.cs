using System.Collections.Concurrent;
using KeyRotator.Core.Keys;

namespace KeyRotator.Operator.Vault;

/// <summary>
/// Generates RSA keys for the Kubernetes vault off the reconcile workers. An RSA key takes tens to
/// hundreds of milliseconds of CPU (seconds for 4096 bits); a worker that waited for it would hold its
/// slot while other sets' writes queue behind it. Instead the reconcile asks for the key
/// (<see cref="IsReady"/>), goes on with what it can do, and the set is reconciled again when the key is
/// there (<see cref="Generated"/>). At most one key per core is generated at a time, so that 1,000 new
/// RSA sets keep every core generating and the workers free to write. EC keys take well under a
/// millisecond and are generated where they are needed.
/// A generated key stays in memory only until its set stores it, or is dropped with the set.
/// </summary>
public sealed class KeyGenerator : IDisposable
{
    private readonly SemaphoreSlim _slots = new(Environment.ProcessorCount);
    private readonly ConcurrentDictionary<(string Uid, long Generation), Task<PrivateSigningKey>> _keys = new();

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
    public void Forget(string uid)
    {
        foreach (var key in _keys.Keys.Where(k => k.Uid == uid))
            _keys.TryRemove(key, out _);
    }

    public void Dispose() => _slots.Dispose();

    private Task<PrivateSigningKey> Start(KeySetContext set)
    {
        var (algorithm, size, ns, name) = (set.Policy.Algorithm, set.Policy.RsaKeySize, set.Namespace, set.Name);
        var generating = Task.Run(async () =>
        {
            await _slots.WaitAsync();
            try
            {
                return PrivateSigningKey.Generate(algorithm, size);
            }
            finally
            {
                try
                {
                    _slots.Release();
                }
                catch (ObjectDisposedException)
                {
                    // The operator is shutting down.
                }
            }
        });

        // After the task has completed (a continuation, not a finally), so that the reconcile it wakes finds the key ready.
        generating.ContinueWith(_ => Generated?.Invoke(ns, name), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        return generating;
    }
}
