using KeyRotator.Operator.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace KeyRotator.Operator.Tests.Hosting;

/// <summary>
/// When the trimmer gives memory back: once per burst of work, after the quiet period, and never while
/// reconciles run or wait. (What a trim saves is measured by hack/scale.sh, in docs/benchmarks.md.)
/// </summary>
public sealed class MemoryTrimmerTests
{
    private const long Mb = 1024 * 1024;
    private static readonly TimeSpan Quiet = TimeSpan.FromSeconds(30);

    private readonly FakeTimeProvider _time = new();
    private readonly TaskCompletionSource _trimmed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _reconciles;
    private int _depth;
    private long _committed = 100 * Mb;
    private int _trims;

    private MemoryTrimmer Trimmer(TimeSpan quietPeriod) => new(
        () => Interlocked.Read(ref _reconciles),
        () => _depth,
        () => Interlocked.Read(ref _committed),
        () =>
        {
            Interlocked.Increment(ref _trims);
            Interlocked.Exchange(ref _committed, 110 * Mb);
            _trimmed.TrySetResult();
        },
        _time, quietPeriod, NullLogger.Instance);

    /// <summary>The trimmer's ticks, <paramref name="ticks"/> of them: how many trimmed.</summary>
    private int Looks(MemoryTrimmer trimmer, int ticks)
    {
        var trimmed = 0;
        for (var i = 0; i < ticks; i++)
        {
            _time.Advance(MemoryTrimmer.Tick);
            if (trimmer.Look())
                trimmed++;
        }

        return trimmed;
    }

    [Fact]
    public void A_burst_of_work_is_trimmed_once_after_the_quiet_period_and_not_again_without_new_growth()
    {
        using var trimmer = Trimmer(Quiet);
        trimmer.Begin();

        // A convergence: reconciles run and the heap grows by 80 MB. Quiet from the next look on.
        _reconciles = 1000;
        _committed = 180 * Mb;
        Assert.Equal(0, Looks(trimmer, 1));

        Assert.Equal(0, Looks(trimmer, 5));
        Assert.Equal(1, Looks(trimmer, 1));
        Assert.Equal(1, trimmer.Trims);

        // Quiet for ten more minutes: nothing new to give back.
        Assert.Equal(0, Looks(trimmer, 120));

        // The next burst is trimmed again.
        _reconciles = 2000;
        _committed = 150 * Mb;
        Assert.Equal(1, Looks(trimmer, 7));
        Assert.Equal(2, _trims);
    }

    [Fact]
    public void Nothing_is_trimmed_while_reconciles_run_or_wait_or_when_the_heap_grew_little()
    {
        using var trimmer = Trimmer(Quiet);
        trimmer.Begin();
        _committed = 300 * Mb;

        // Reconciles every few seconds for two minutes.
        for (var i = 0; i < 24; i++)
        {
            _reconciles++;
            Assert.Equal(0, Looks(trimmer, 1));
        }

        // Sets waiting in the queue (a worker held by a slow API call): not quiet either.
        _depth = 3;
        Assert.Equal(0, Looks(trimmer, 24));
        _depth = 0;
        Assert.Equal(1, Looks(trimmer, 7));

        // A few reconciles later the heap has grown by less than the minimum: left as it is.
        _reconciles++;
        _committed = 110 * Mb + MemoryTrimmer.MinimumGrowth - 1;
        Assert.Equal(0, Looks(trimmer, 24));
        Assert.Equal(1, _trims);
    }

    [Fact]
    public async Task Running_as_a_service_it_trims_on_its_own_timer()
    {
        using var trimmer = Trimmer(Quiet);
        await trimmer.StartAsync(TestContext.Current.CancellationToken);
        _committed = 200 * Mb;
        for (var i = 0; i < 100 && !_trimmed.Task.IsCompleted; i++)
        {
            _time.Advance(MemoryTrimmer.Tick);
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }

        await _trimmed.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        await trimmer.StopAsync(TestContext.Current.CancellationToken);
        Assert.Equal(1, _trims);
    }

    [Fact]
    public async Task A_quiet_period_of_zero_turns_trimming_off()
    {
        using var trimmer = Trimmer(TimeSpan.Zero);
        await trimmer.StartAsync(TestContext.Current.CancellationToken);

        // The service ends at once: no timer, nothing ever collected.
        await trimmer.ExecuteTask!.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.True(trimmer.ExecuteTask.IsCompletedSuccessfully);
        await trimmer.StopAsync(TestContext.Current.CancellationToken);
        Assert.Equal(0, _trims);
    }
}
