using KeyRotator.Operator.Controllers;
using KeyRotator.Operator.Runtime;
using Microsoft.Extensions.Time.Testing;

namespace KeyRotator.Operator.Tests.Runtime;

public sealed class WorkQueueTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public async Task A_key_added_many_times_waits_once()
    {
        using var queue = new WorkQueue<string>(_time);
        queue.Add("a");
        queue.Add("a");
        queue.Add("b");
        queue.Add("a");

        Assert.Equal(2, queue.Depth);
        Assert.Equal("a", await queue.TakeAsync(TestContext.Current.CancellationToken));
        Assert.Equal("b", await queue.TakeAsync(TestContext.Current.CancellationToken));
        Assert.Equal(0, queue.Depth);
    }

    [Fact]
    public async Task A_key_added_while_it_is_processed_runs_again_afterwards_never_concurrently()
    {
        using var queue = new WorkQueue<string>(_time);
        queue.Add("a");
        var key = await queue.TakeAsync(TestContext.Current.CancellationToken);

        queue.Add("a");
        Assert.Equal(0, queue.Depth);

        queue.Done(key);
        Assert.Equal(1, queue.Depth);
        Assert.Equal("a", await queue.TakeAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public void Failures_back_off_exponentially_up_to_the_cap_and_success_resets_the_backoff()
    {
        using var queue = new WorkQueue<string>(_time, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10));

        var delays = Enumerable.Range(0, 6).Select(_ => queue.AddRateLimited("a")).ToList();
        Assert.Equal([1, 2, 4, 8, 10, 10], delays.Select(d => d.TotalSeconds));

        queue.Forget("a");
        Assert.Equal(TimeSpan.FromSeconds(1), queue.AddRateLimited("a"));
    }

    [Fact]
    public void Delayed_add_arrives_when_its_time_comes_and_the_earliest_delay_wins()
    {
        using var queue = new WorkQueue<string>(_time);
        queue.AddAfter("a", TimeSpan.FromSeconds(30));
        queue.AddAfter("a", TimeSpan.FromSeconds(10));

        _time.Advance(TimeSpan.FromSeconds(9));
        Assert.Equal(0, queue.Depth);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, queue.Depth);
        _time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(1, queue.Depth);
    }
}
