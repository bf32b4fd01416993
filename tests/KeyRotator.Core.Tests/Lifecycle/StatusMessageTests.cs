using KeyRotator.Core.Lifecycle;

namespace KeyRotator.Core.Tests.Lifecycle;

public sealed class StatusMessageTests
{
    [Fact]
    public void A_short_message_is_kept_as_it_is()
    {
        Assert.Equal("the vault answers", StatusMessage.Bound("the vault answers"));
        Assert.Equal("a; b", StatusMessage.Join("", "; ", ["a", "b"]));
    }

    [Fact]
    public void A_long_message_is_cut_at_the_bound_with_a_marker_saying_so()
    {
        var bounded = StatusMessage.Bound(new string('a', 50_000));

        Assert.True(bounded.Length <= StatusMessage.MaxConditionLength);
        Assert.StartsWith("aaaa", bounded, StringComparison.Ordinal);
        Assert.EndsWith("… (truncated, 50000 characters in all)", bounded, StringComparison.Ordinal);
    }

    [Fact]
    public void A_cut_never_splits_a_surrogate_pair()
    {
        var bounded = StatusMessage.Bound(string.Concat(Enumerable.Repeat("😀", 100)), 50);

        Assert.True(bounded.Length <= 50);
        Assert.False(char.IsHighSurrogate(bounded[bounded.IndexOf('…', StringComparison.Ordinal) - 1]));
    }

    [Fact]
    public void A_long_list_ends_with_how_many_more_there_are()
    {
        var items = Enumerable.Range(0, 4000).Select(i => $"namespace victim-{i} does not exist, create it or remove it").ToList();

        var joined = StatusMessage.Join("4000 of spec.jwks.targetNamespaces hold no JWKS copy: ", "; ", items);

        Assert.True(joined.Length <= StatusMessage.MaxConditionLength, $"{joined.Length}");
        Assert.StartsWith("4000 of spec.jwks.targetNamespaces hold no JWKS copy: namespace victim-0 does not exist", joined, StringComparison.Ordinal);
        var shown = joined.Split("; ").Length;
        Assert.EndsWith($" … and {4000 - shown} more", joined, StringComparison.Ordinal);
    }
}
