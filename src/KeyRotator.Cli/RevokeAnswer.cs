namespace KeyRotator.Cli;

/// <summary>What `keyrotator revoke -o json` prints: the set, the revoked kid, and whether it was the active key.</summary>
internal sealed record RevokeAnswer(string Namespace, string Name, string Revoked, bool WasActive);
