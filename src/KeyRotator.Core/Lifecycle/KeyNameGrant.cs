namespace KeyRotator.Core.Lifecycle;

/// <summary>
/// The Azure Key Vault key names a ClusterKeyVault grants a namespace: those that start with its
/// spec.azureKeyVault.keyNamePrefix, where "{namespace}" stands for the namespace (every name when the grant
/// has no prefix). Key names hold no "/", so "{namespace}-" would give team-a the names of team-a-b: a name
/// that another namespace listed in the same grant has a longer claim to is not granted.
/// </summary>
public static class KeyNameGrant
{
    /// <summary>Whether a set in <paramref name="ns"/> may name the key <paramref name="keyName"/> under a grant to <paramref name="namespaces"/> with <paramref name="prefix"/>.</summary>
    public static bool Allows(string? prefix, IEnumerable<string> namespaces, string ns, string keyName)
    {
        if (string.IsNullOrEmpty(prefix))
            return true;
        var own = Expand(prefix, ns);
        if (!keyName.StartsWith(own, StringComparison.OrdinalIgnoreCase))
            return false;
        return !namespaces.Where(other => other != ns && other != "*")
            .Select(other => Expand(prefix, other))
            .Any(theirs => theirs.Length > own.Length && keyName.StartsWith(theirs, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>The prefix a namespace's key names must start with.</summary>
    public static string Expand(string prefix, string ns) => prefix.Replace(PublishGrant.NamespacePlaceholder, ns, StringComparison.Ordinal);
}
