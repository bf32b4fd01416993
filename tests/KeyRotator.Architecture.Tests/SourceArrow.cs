namespace KeyRotator.Architecture.Tests;

/// <summary>One reference in the source from a file of room <see cref="From"/> to a name declared in room <see cref="To"/>.</summary>
public sealed record SourceArrow(string From, string To, string Where, string Name)
{
    public override string ToString() => $"{From} -> {To} at {Where} ({Name})";
}
