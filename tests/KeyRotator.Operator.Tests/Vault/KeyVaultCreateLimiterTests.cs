using KeyRotator.Operator.Vault.Azure;
using Microsoft.Extensions.Time.Testing;

namespace KeyRotator.Operator.Tests.Vault;

/// <summary>The client-side create limit, on a fake clock: Key Vault's documented 20 software / 10 HSM creates per 10 s per vault.</summary>
public sealed class KeyVaultCreateLimiterTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-11-28T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

    [Theory]
    [InlineData(false, 20)]
    [InlineData(true, 10)]
    public async Task The_create_after_the_limit_waits_until_the_oldest_answer_leaves_the_10_second_window(bool hsm, int limit)
    {
        var ct = TestContext.Current.CancellationToken;
        var limiter = new KeyVaultCreateLimiter(_time);
        for (var i = 0; i < limit; i++)
            (await limiter.AcquireAsync("contoso.vault.azure.net", hsm, ct)).Dispose();

        var next = limiter.AcquireAsync("contoso.vault.azure.net", hsm, ct).AsTask();
        _time.Advance(TimeSpan.FromSeconds(9.9));
        Assert.False(next.IsCompleted, "a slot opened before the window passed");

        _time.Advance(TimeSpan.FromSeconds(0.1));
        (await next.WaitAsync(TimeSpan.FromSeconds(5), ct)).Dispose();
    }

    [Fact]
    public async Task Vaults_and_key_kinds_have_separate_budgets()
    {
        var ct = TestContext.Current.CancellationToken;
        var limiter = new KeyVaultCreateLimiter(_time);
        for (var i = 0; i < 20; i++)
            (await limiter.AcquireAsync("one.vault.azure.net", false, ct)).Dispose();

        var otherVault = limiter.AcquireAsync("two.vault.azure.net", false, ct);
        var hsm = limiter.AcquireAsync("one.vault.azure.net", true, ct);
        Assert.True(otherVault.IsCompleted);
        Assert.True(hsm.IsCompleted);
    }

    [Fact]
    public async Task A_create_still_in_flight_holds_its_slot_and_counts_from_when_it_was_answered()
    {
        var ct = TestContext.Current.CancellationToken;
        var limiter = new KeyVaultCreateLimiter(_time, softwareLimit: 2);
        var slow = await limiter.AcquireAsync("contoso.vault.azure.net", false, ct);
        (await limiter.AcquireAsync("contoso.vault.azure.net", false, ct)).Dispose();

        var waiting = limiter.AcquireAsync("contoso.vault.azure.net", false, ct).AsTask();
        _time.Advance(TimeSpan.FromSeconds(30));
        await waiting.WaitAsync(TimeSpan.FromSeconds(5), ct); // the fast create left the window
        var fourth = limiter.AcquireAsync("contoso.vault.azure.net", false, ct).AsTask();
        _time.Advance(TimeSpan.FromSeconds(30));
        Assert.False(fourth.IsCompleted, "the slow create is still in flight and the third holds the other slot");

        slow.Dispose(); // answered now: its slot frees 10 s from now, not from when it was sent
        _time.Advance(TimeSpan.FromSeconds(9));
        Assert.False(fourth.IsCompleted);
        _time.Advance(TimeSpan.FromSeconds(1));
        await fourth.WaitAsync(TimeSpan.FromSeconds(5), ct);
    }
}
