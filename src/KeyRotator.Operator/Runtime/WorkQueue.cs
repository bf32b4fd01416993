using System.Threading.Channels;

namespace KeyRotator.Operator.Runtime;

/// <summary>
/// A work queue in the manner of client-go's: a key waits at most once, is never processed by two
/// workers at once (an add while processing runs it again afterwards), and failures are retried with
/// capped exponential backoff. Delays come from the injected TimeProvider.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1711", Justification = "A work queue is what controller authors call it.")]
public sealed class WorkQueue<TKey> : IDisposable
    where TKey : notnull
{
    private readonly Lock _gate = new();
    private readonly Channel<TKey> _ready = Channel.CreateUnbounded<TKey>();
    private readonly HashSet<TKey> _queued = [];
    private readonly HashSet<TKey> _processing = [];
    private readonly HashSet<TKey> _dirty = [];
    private readonly Dictionary<TKey, int> _failures = [];
    private readonly Dictionary<TKey, (DateTimeOffset Due, ITimer Timer)> _delayed = [];
    private readonly TimeProvider _time;
    private readonly TimeSpan _baseDelay;
    private readonly TimeSpan _maxDelay;

    public WorkQueue(TimeProvider time, TimeSpan? baseDelay = null, TimeSpan? maxDelay = null)
    {
        _time = time;
        _baseDelay = baseDelay ?? TimeSpan.FromSeconds(1);
        _maxDelay = maxDelay ?? TimeSpan.FromMinutes(5);
    }

    /// <summary>Keys waiting (not counting those being processed or delayed).</summary>
    public int Depth
    {
        get
        {
            lock (_gate)
                return _queued.Count;
        }
    }

    public void Add(TKey key)
    {
        lock (_gate)
        {
            if (_processing.Contains(key))
            {
                _dirty.Add(key);
                return;
            }

            if (_queued.Add(key))
                _ready.Writer.TryWrite(key);
        }
    }

    /// <summary>Adds the key after <paramref name="delay"/>; an earlier pending delay wins.</summary>
    public void AddAfter(TKey key, TimeSpan delay)
    {
        if (delay <= TimeSpan.Zero)
        {
            Add(key);
            return;
        }

        var due = _time.GetUtcNow() + delay;
        lock (_gate)
        {
            if (_delayed.TryGetValue(key, out var existing))
            {
                if (existing.Due <= due)
                    return;
                existing.Timer.Dispose();
            }

            var timer = _time.CreateTimer(_ => Fire(key, due), null, delay, Timeout.InfiniteTimeSpan);
            _delayed[key] = (due, timer);
        }
    }

    /// <summary>Retries the key after a backoff that doubles with each consecutive failure.</summary>
    public TimeSpan AddRateLimited(TKey key)
    {
        TimeSpan delay;
        lock (_gate)
        {
            var failures = _failures.GetValueOrDefault(key);
            _failures[key] = failures + 1;
            var factor = Math.Pow(2, Math.Min(failures, 30));
            delay = TimeSpan.FromTicks((long)Math.Min(_baseDelay.Ticks * factor, _maxDelay.Ticks));
        }

        AddAfter(key, delay);
        return delay;
    }

    /// <summary>The key succeeded: its next failure starts the backoff afresh.</summary>
    public void Forget(TKey key)
    {
        lock (_gate)
            _failures.Remove(key);
    }

    public async ValueTask<TKey> TakeAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var key = await _ready.Reader.ReadAsync(cancellationToken);
            lock (_gate)
            {
                if (!_queued.Remove(key))
                    continue;
                _processing.Add(key);
                return key;
            }
        }
    }

    /// <summary>Processing of the key ended; a key added meanwhile goes back into the queue.</summary>
    public void Done(TKey key)
    {
        lock (_gate)
        {
            _processing.Remove(key);
            if (_dirty.Remove(key) && _queued.Add(key))
                _ready.Writer.TryWrite(key);
        }
    }

    private void Fire(TKey key, DateTimeOffset due)
    {
        lock (_gate)
        {
            if (!_delayed.TryGetValue(key, out var entry) || entry.Due != due)
                return;
            _delayed.Remove(key);
            entry.Timer.Dispose();
        }

        Add(key);
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var (_, timer) in _delayed.Values)
                timer.Dispose();
            _delayed.Clear();
        }

        _ready.Writer.TryComplete();
    }
}
