using System.Text;

namespace KeyRotator.Core.Lifecycle;

/// <summary>
/// Every message the operator writes into a status condition or an Event goes through here, so that a
/// status write is never refused for its size (the CRD allows 32,768 characters per condition message)
/// whatever a spec lists or an API server answers: long text is cut with a "(truncated …)" marker, long
/// lists end with "… and N more".
/// </summary>
public static class StatusMessage
{
    /// <summary>The longest condition message the operator writes (well under the CRD's 32,768).</summary>
    public const int MaxConditionLength = 4096;

    /// <summary>The longest Event message the operator writes.</summary>
    public const int MaxEventLength = 1024;

    /// <summary><paramref name="text"/> when it fits in <paramref name="max"/> characters; otherwise its start and a marker saying how much was cut.</summary>
    public static string Bound(string text, int max = MaxConditionLength)
    {
        if (text.Length <= max)
            return text;
        var marker = $"… (truncated, {text.Length} characters in all)";
        var keep = Math.Max(0, max - marker.Length);
        if (keep > 0 && char.IsHighSurrogate(text[keep - 1]))
            keep--; // never split a surrogate pair: half a character is not valid UTF-16
        return string.Concat(text.AsSpan(0, keep), marker);
    }

    /// <summary>
    /// The items joined with <paramref name="separator"/> after <paramref name="prefix"/>, as many as fit in
    /// <paramref name="max"/> characters, then "… and N more"; never longer than <paramref name="max"/>.
    /// </summary>
    public static string Join(string prefix, string separator, IReadOnlyCollection<string> items, int max = MaxConditionLength)
    {
        var text = new StringBuilder(prefix);
        var written = 0;
        foreach (var item in items)
        {
            var rest = items.Count - written - 1;
            var room = max - text.Length - (written > 0 ? separator.Length : 0) - (rest > 0 ? MoreMarker(rest).Length : 0);
            if (item.Length > room)
                break;
            if (written > 0)
                text.Append(separator);
            text.Append(item);
            written++;
        }

        if (written < items.Count)
            text.Append(MoreMarker(items.Count - written));
        return Bound(text.ToString(), max);
    }

    private static string MoreMarker(int more) => $" … and {more} more";
}
