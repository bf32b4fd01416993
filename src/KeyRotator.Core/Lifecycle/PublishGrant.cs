using KeyRotator.Model.Resources;

namespace KeyRotator.Core.Lifecycle;

/// <summary>
/// What a ClusterPublishTarget grants a namespace: not the whole container, but the paths under the
/// namespace's prefix (spec.pathPrefix, "{namespace}/" by default) and the public URLs under the target's
/// public URL plus that prefix. A set may publish only there, and may name as its issuer and jwks_uri only
/// URLs there, so that no team can publish under, or claim, another team's issuer; a path stays with its
/// namespace whatever happens to the sets that used it.
/// </summary>
public static class PublishGrant
{
    /// <summary>The placeholder spec.pathPrefix expands to the set's namespace.</summary>
    public const string NamespacePlaceholder = "{namespace}";

    /// <summary>spec.pathPrefix when unset: every granted namespace has its own folder.</summary>
    public const string DefaultPathPrefix = NamespacePlaceholder + "/";

    /// <summary>
    /// The path prefix <paramref name="ns"/> may publish under, or null when the target's prefix cannot be
    /// given to it: a prefix without "{namespace}/" would be one folder shared by every granted namespace (or
    /// folders inside each other), so it is accepted only for a target granted to exactly one namespace.
    /// </summary>
    public static string? PathPrefix(ClusterPublishTargetSpec target, string ns)
    {
        // "{namespace}/": a namespace name holds no "/", so no namespace's folder lies inside another's
        // ("{namespace}-" would give team-a the folder of team-a-b).
        var template = target.PathPrefix ?? DefaultPathPrefix;
        if (!template.Contains(NamespacePlaceholder + "/", StringComparison.Ordinal) && !(target.Namespaces is [var only] && only != "*"))
            return null;
        return template.Replace(NamespacePlaceholder, ns, StringComparison.Ordinal).TrimStart('/');
    }

    /// <summary>The URL relying parties read the container at: spec.publicUrl, else the blob endpoint and container.</summary>
    public static string PublicUrl(ClusterPublishTargetSpec target) =>
        (target.PublicUrl is { Length: > 0 } url ? url : $"{target.AzureBlob?.Endpoint.TrimEnd('/')}/{target.AzureBlob?.Container}").TrimEnd('/') + "/";

    /// <summary>
    /// Why a set in <paramref name="ns"/> may not publish <paramref name="entry"/> to the target named
    /// <paramref name="targetName"/>, or null when it may. <paramref name="issuer"/> and <paramref name="jwksUri"/>
    /// are the set's discovery URLs when it has spec.jwks.issuer.
    /// </summary>
    public static string? Refusal(string targetName, ClusterPublishTargetSpec target, string ns, PublishSpec entry, string? issuer, string? jwksUri)
    {
        if (!NamespaceGrant.Includes(target.Namespaces, ns))
            return $"ClusterPublishTarget {targetName} is not granted to namespace {ns}; ask the platform team to add {ns} to its spec.namespaces";
        if (PathPrefix(target, ns) is not { } prefix)
            return $"ClusterPublishTarget {targetName} gives every namespace it grants the same spec.pathPrefix \"{target.PathPrefix}\", so one team could publish under another's issuer; "
                + $"ask the platform team to put {NamespacePlaceholder}/ in it, or to grant the target to one namespace only";
        var path = entry.Path.Trim('/');
        if (!Under(path + "/", prefix))
            return $"spec.publish path {path} is outside what ClusterPublishTarget {targetName} grants namespace {ns}: paths under {Shown(prefix)}; publish under it, e.g. {prefix}{Leaf(path)}";
        var granted = PublicUrl(target) + prefix;
        foreach (var (field, url) in new[] { ("spec.jwks.issuer", issuer), ("spec.jwks.jwksUri", jwksUri) })
        {
            if (url is { Length: > 0 } && !Under(url.TrimEnd('/') + "/", granted))
                return $"{field} {url} is outside what ClusterPublishTarget {targetName} grants namespace {ns}: URLs under {granted}; relying parties must not be told to trust an issuer another namespace may publish";
        }

        return null;
    }

    private static bool Under(string value, string prefix) => value.StartsWith(prefix, StringComparison.Ordinal);

    private static string Shown(string prefix) => prefix.Length == 0 ? "the container's root" : prefix;

    private static string Leaf(string path) => path.Contains('/', StringComparison.Ordinal) ? path[(path.LastIndexOf('/') + 1)..] : path;
}
