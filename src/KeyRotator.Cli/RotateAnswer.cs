namespace KeyRotator.Cli;

/// <summary>What `keyrotator rotate -o json` prints: the set and the rotate-now request it annotated.</summary>
internal sealed record RotateAnswer(string Namespace, string Name, string RotateNow);
