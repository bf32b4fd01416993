namespace KeyRotator.Cli;

/// <summary>A key of a set in `keyrotator status`.</summary>
internal sealed record StatusRowKey(string Kid, string State, long Generation);
