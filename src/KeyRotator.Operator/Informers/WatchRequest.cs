namespace KeyRotator.Operator.Informers;

/// <summary>
/// A watch of one collection: its list path relative to the API server (<c>api/v1/namespaces/a/configmaps</c>)
/// and what the query asks for. Bookmarks are on by default: a quiet watch then still learns a recent
/// resourceVersion, so that reopening it does not start from one the server has already forgotten.
/// </summary>
public sealed record WatchRequest(string Path)
{
    /// <summary>Start after this version (null: the server sends every current object as Added first).</summary>
    public string? ResourceVersion { get; init; }

    /// <summary>The server ends the watch after this long (null: its own default).</summary>
    public int? TimeoutSeconds { get; init; }

    public string? LabelSelector { get; init; }

    public string? FieldSelector { get; init; }

    public bool Bookmarks { get; init; } = true;

    /// <summary>A core (v1) collection, in one namespace or across all of them.</summary>
    public static WatchRequest Core(string plural, string? ns) =>
        new(ns is null ? $"api/v1/{plural}" : $"api/v1/namespaces/{Uri.EscapeDataString(ns)}/{plural}");

    /// <summary>A collection of an API group (custom resources included), in one namespace or across all of them.</summary>
    public static WatchRequest Group(string group, string version, string plural, string? ns) =>
        new(ns is null ? $"apis/{group}/{version}/{plural}" : $"apis/{group}/{version}/namespaces/{Uri.EscapeDataString(ns)}/{plural}");

    /// <summary>
    /// The path and query. <c>watch=true</c>, spelled as KubernetesClient spells it, is what the operator's
    /// handlers (<c>ApiRequests.IsWatch</c>) recognise a watch by: never paced, retried or buffered.
    /// </summary>
    public string RelativeUri
    {
        get
        {
            var query = new List<string> { "watch=true" };
            if (Bookmarks)
                query.Add("allowWatchBookmarks=true");
            Add(query, "resourceVersion", ResourceVersion);
            Add(query, "timeoutSeconds", TimeoutSeconds?.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Add(query, "labelSelector", LabelSelector);
            Add(query, "fieldSelector", FieldSelector);
            return $"{Path}?{string.Join('&', query)}";
        }
    }

    private static void Add(List<string> query, string name, string? value)
    {
        if (value is not null)
            query.Add($"{name}={Uri.EscapeDataString(value)}");
    }
}
