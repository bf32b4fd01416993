using KeyRotator.Core.Lifecycle;

namespace KeyRotator.Core.Tests.Lifecycle;

public sealed class CachePolicyTests
{
    [Theory]
    [InlineData(8, 2)]          // prePublish / 4
    [InlineData(2, 1)]          // never below a second
    [InlineData(7200, 300)]     // never above five minutes
    public void The_max_age_is_a_quarter_of_prepublish_between_one_second_and_five_minutes(int prePublishSeconds, int maxAgeSeconds) =>
        Assert.Equal(TimeSpan.FromSeconds(maxAgeSeconds), CachePolicy.MaxAge(TimeSpan.FromSeconds(prePublishSeconds)));

    [Fact]
    public void The_minimum_prepublish_for_a_cache_allowance_is_the_shortest_that_reaches_relying_parties_in_time()
    {
        // Every allowance from none to an hour, in steps that land on each piece of the max-age rule.
        for (var allowance = TimeSpan.Zero; allowance <= TimeSpan.FromHours(1); allowance += TimeSpan.FromSeconds(7))
        {
            var minimum = CachePolicy.MinimumPrePublish(allowance);
            Assert.True(minimum >= CachePolicy.Reach(minimum, allowance), $"allowance {allowance}: {minimum} is short of {CachePolicy.Reach(minimum, allowance)}");
            var shorter = minimum - TimeSpan.FromSeconds(1);
            Assert.True(shorter < CachePolicy.Reach(shorter, allowance), $"allowance {allowance}: {shorter} would do, {minimum} is not the minimum");
        }
    }

    [Fact]
    public void A_five_minute_cdn_allowance_needs_six_minutes_forty_of_prepublish() =>
        Assert.Equal(TimeSpan.FromSeconds(400), CachePolicy.MinimumPrePublish(TimeSpan.FromMinutes(5)));

    [Fact]
    public void For_fifteen_minutes_after_a_revocation_documents_are_cached_ten_seconds_at_most()
    {
        var rotation = new KeyRotator.Model.Resources.RotationSpec { PrePublish = "8m" };
        var revokedAt = new DateTimeOffset(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);
        KeyRotator.Model.Resources.KeyStatus[] keys = [new() { Kid = "a", State = "Active" }, new() { Kid = "b", State = "Revoked", RevokedAt = revokedAt }];

        Assert.Equal(TimeSpan.FromMinutes(2), CachePolicy.MaxAge(rotation, keys, revokedAt - TimeSpan.FromSeconds(1)));
        Assert.Equal(TimeSpan.FromSeconds(10), CachePolicy.MaxAge(rotation, keys, revokedAt));
        Assert.Equal(TimeSpan.FromSeconds(10), CachePolicy.MaxAge(rotation, keys, revokedAt + TimeSpan.FromMinutes(14)));
        Assert.Equal(TimeSpan.FromMinutes(2), CachePolicy.MaxAge(rotation, keys, revokedAt + TimeSpan.FromMinutes(15)));
        Assert.Equal(revokedAt + TimeSpan.FromMinutes(15), CachePolicy.RecentRevocationEnds(keys, revokedAt + TimeSpan.FromMinutes(3)));
        Assert.Null(CachePolicy.RecentRevocationEnds(keys, revokedAt + TimeSpan.FromMinutes(15)));

        // A set whose own max-age is shorter keeps it.
        Assert.Equal(TimeSpan.FromSeconds(2), CachePolicy.MaxAge(new KeyRotator.Model.Resources.RotationSpec { PrePublish = "8s" }, keys, revokedAt));
    }
}
