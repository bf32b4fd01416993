namespace KeyRotator.Model.Resources;

/// <summary>The rule of every platform-owned resource's spec.namespaces (ClusterKeyVault, ClusterPublishTarget).</summary>
public static class NamespaceGrant
{
    /// <summary>Whether <paramref name="granted"/> lets sets in <paramref name="ns"/> use the resource: it names the namespace, or "*".</summary>
    public static bool Includes(IEnumerable<string> granted, string ns) => granted.Any(n => n == "*" || n == ns);
}
