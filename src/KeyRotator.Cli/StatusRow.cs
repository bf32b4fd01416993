using KeyRotator.Model.Resources;

namespace KeyRotator.Cli;

/// <summary>One set in `keyrotator status`: a row of the table, an element of the JSON array.</summary>
internal sealed record StatusRow(
    string? Namespace,
    string? Name,
    string Algorithm,
    string? ActiveKid,
    List<StatusRowKey> Keys,
    DateTimeOffset? NextRotation,
    string Ready,
    string? Reason,
    PropagationStatus? Propagation)
{
    public static StatusRow From(V1Alpha1SigningKeySet set)
    {
        var ready = set.Status?.Conditions?.FirstOrDefault(c => c.Type == "Ready");
        return new StatusRow(
            set.Metadata.NamespaceProperty,
            set.Metadata.Name,
            set.Spec.Algorithm,
            set.Status?.ActiveKeyId,
            [.. (set.Status?.Keys ?? []).Select(k => new StatusRowKey(k.Kid, k.State, k.Generation))],
            set.Status?.NextRotationTime,
            ready?.Status ?? "Unknown",
            ready?.Reason,
            set.Status?.Propagation);
    }
}
