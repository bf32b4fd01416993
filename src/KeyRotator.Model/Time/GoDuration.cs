using System.Globalization;

namespace KeyRotator.Model.Time;

/// <summary>
/// Durations written the way Kubernetes users write them (Go's time.ParseDuration: "720h", "1h30m", "1.5s").
/// </summary>
public static class GoDuration
{
    public static bool TryParse(string? text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        if (string.IsNullOrEmpty(text))
            return false;
        if (text == "0")
            return true;

        var total = 0m;
        var i = 0;
        while (i < text.Length)
        {
            var start = i;
            while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.'))
                i++;
            if (start == i || !decimal.TryParse(text.AsSpan(start, i - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
                return false;

            var unitStart = i;
            while (i < text.Length && !char.IsAsciiDigit(text[i]) && text[i] != '.')
                i++;
            var ticksPerUnit = text[unitStart..i] switch
            {
                "ns" => 0.01m,
                "us" or "µs" => 10m,
                "ms" => TimeSpan.TicksPerMillisecond,
                "s" => TimeSpan.TicksPerSecond,
                "m" => TimeSpan.TicksPerMinute,
                "h" => TimeSpan.TicksPerHour,
                _ => -1m,
            };
            if (ticksPerUnit < 0)
                return false;
            total += value * ticksPerUnit;
            if (total > TimeSpan.MaxValue.Ticks)
                return false;
        }

        duration = TimeSpan.FromTicks((long)total);
        return true;
    }

    public static TimeSpan Parse(string text) =>
        TryParse(text, out var duration) ? duration : throw new FormatException($"'{text}' is not a duration such as 90s, 15m or 720h");

    /// <summary>Formats like Go's Duration.String for whole seconds: 2h0m0s becomes "2h", 90s becomes "1m30s".</summary>
    public static string Format(TimeSpan duration)
    {
        if (duration == TimeSpan.Zero)
            return "0s";
        var parts = new List<string>();
        var hours = (long)duration.TotalHours;
        if (hours > 0)
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{hours}h"));
        if (duration.Minutes > 0)
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{duration.Minutes}m"));
        var seconds = duration.Seconds + (duration.Milliseconds / 1000m);
        if (seconds > 0)
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{seconds:0.###}s"));
        return string.Concat(parts);
    }
}
