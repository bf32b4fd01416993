using KeyRotator.Model.Time;

namespace KeyRotator.Core.Tests.Time;

public sealed class GoDurationTests
{
    public static TheoryData<string, TimeSpan> Valid => new()
    {
        { "720h", TimeSpan.FromHours(720) },
        { "15m", TimeSpan.FromMinutes(15) },
        { "1h30m", TimeSpan.FromMinutes(90) },
        { "1.5s", TimeSpan.FromMilliseconds(1500) },
        { "250ms", TimeSpan.FromMilliseconds(250) },
        { "0s", TimeSpan.Zero },
        { "0", TimeSpan.Zero },
    };

    [Theory]
    [MemberData(nameof(Valid))]
    public void Parses_kubernetes_style_durations(string text, TimeSpan expected)
    {
        Assert.True(GoDuration.TryParse(text, out var parsed));
        Assert.Equal(expected, parsed);
    }

    [Theory]
    [InlineData("")]
    [InlineData("monthly")]
    [InlineData("15")]
    [InlineData("15 m")]
    [InlineData("-5m")]
    [InlineData("1d")]
    [InlineData("99999999999999h")]
    public void Rejects_text_that_is_not_a_duration(string text) => Assert.False(GoDuration.TryParse(text, out _));

    [Fact]
    public void Parse_error_says_what_a_duration_looks_like()
    {
        var error = Assert.Throws<FormatException>(() => GoDuration.Parse("monthly"));
        Assert.Contains("720h", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(7200, "2h")]
    [InlineData(90, "1m30s")]
    [InlineData(0, "0s")]
    [InlineData(3661, "1h1m1s")]
    public void Formats_round_trip(int seconds, string expected)
    {
        var formatted = GoDuration.Format(TimeSpan.FromSeconds(seconds));
        Assert.Equal(expected, formatted);
        Assert.Equal(TimeSpan.FromSeconds(seconds), GoDuration.Parse(formatted));
    }
}
