using KeyRotator.Operator.Configuration;
using KeyRotator.Operator.Controllers;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.Hosting;

/// <summary>
/// Gives memory back once a burst of work is over. A convergence or a rotation storm leaves most of
/// what it allocated as garbage in the oldest generation, and the GC, seeing no pressure, keeps it
/// committed for as long as the operator stays quiet, which is nearly always: the process would sit at
/// its burst size. When no reconcile has run for <see cref="OperatorOptions.MemoryTrimQuietPeriod"/> and
/// the GC holds at least <see cref="MinimumGrowth"/> more than after the last trim (or the start), one
/// aggressive full collection compacts the heap and returns the free memory to the system: only while
/// idle, at most once per burst, on every replica (a standby's informers fill its heap too).
/// </summary>
public sealed partial class MemoryTrimmer : BackgroundService
{
    /// <summary>Less growth than this since the last trim is not worth a full collection.</summary>
    public const long MinimumGrowth = 16 * 1024 * 1024;

    /// <summary>How often the trimmer looks.</summary>
    public static readonly TimeSpan Tick = TimeSpan.FromSeconds(5);

    private readonly Func<long> _reconciles;
    private readonly Func<int> _queueDepth;
    private readonly Func<long> _committedBytes;
    private readonly Action _trim;
    private readonly TimeProvider _time;
    private readonly TimeSpan _quietPeriod;
    private readonly ILogger _logger;
    private int _trims;
    private long _baseline;
    private long _seen;
    private DateTimeOffset _quietSince;

    public MemoryTrimmer(SigningKeySetController controller, TimeProvider time, IOptions<OperatorOptions> options, ILogger<MemoryTrimmer> logger)
        : this(() => controller.Reconciles, () => controller.Queue.Depth, () => GC.GetGCMemoryInfo().TotalCommittedBytes,
            () => GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true), time, options.Value.MemoryTrimQuietPeriod, logger)
    {
    }

    /// <summary>With the activity and memory probes and the collection given (tests).</summary>
    internal MemoryTrimmer(Func<long> reconciles, Func<int> queueDepth, Func<long> committedBytes, Action trim, TimeProvider time, TimeSpan quietPeriod, ILogger logger)
    {
        (_reconciles, _queueDepth, _committedBytes, _trim) = (reconciles, queueDepth, committedBytes, trim);
        (_time, _quietPeriod, _logger) = (time, quietPeriod, logger);
    }

    /// <summary>How many times memory was trimmed.</summary>
    public int Trims => Volatile.Read(ref _trims);

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // The starting point is the heap as the host starts it (ExecuteAsync runs later, in the background).
        Begin();
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_quietPeriod <= TimeSpan.Zero)
            return;

        using var timer = new PeriodicTimer(Tick, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
                Look();
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Takes the starting point: the heap as it is now, quiet from now.</summary>
    internal void Begin()
    {
        _baseline = _committedBytes();
        _seen = _reconciles();
        _quietSince = _time.GetUtcNow();
    }

    /// <summary>One look (every <see cref="Tick"/>): trims when quiet long enough after enough growth; true when it did.</summary>
    internal bool Look()
    {
        var reconciles = _reconciles();
        if (reconciles != _seen || _queueDepth() > 0)
        {
            (_seen, _quietSince) = (reconciles, _time.GetUtcNow());
            return false;
        }

        var committed = _committedBytes();
        if (_time.GetUtcNow() - _quietSince < _quietPeriod || committed - _baseline < MinimumGrowth)
            return false;

        var before = Environment.WorkingSet;
        _trim();
        _baseline = _committedBytes();
        Interlocked.Increment(ref _trims);
        LogTrimmed(_logger, before >> 20, Environment.WorkingSet >> 20, committed >> 20, _baseline >> 20);
        return true;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Quiet after a burst of work: memory trimmed from {BeforeMb} MB to {AfterMb} MB resident (GC committed {CommittedBeforeMb} MB, now {CommittedAfterMb} MB)")]
    private static partial void LogTrimmed(ILogger logger, long beforeMb, long afterMb, long committedBeforeMb, long committedAfterMb);
}
