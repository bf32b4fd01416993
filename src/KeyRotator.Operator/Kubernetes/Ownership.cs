using k8s.Models;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;

namespace KeyRotator.Operator.Kubernetes;

/// <summary>
/// Whether an object is the operator's to change for one set (invariant 9): labelled as managed by
/// KeyRotator and recorded as belonging to that set's UID, by owner reference or by annotation (labels alone
/// prove nothing: anyone who may create a ConfigMap may write them).
/// A name held by anything else is a conflict to report, never an object to take over.
/// </summary>
public static class Ownership
{
    public static bool IsOwnedBy(V1ObjectMeta metadata, SetIdentity set)
    {
        if (metadata.Labels?.TryGetValue(Labels.ManagedBy, out var managedBy) != true || managedBy != Labels.ManagedByValue)
            return false;
        if (metadata.OwnerReferences?.Any(o => o.Uid == set.Uid) == true)
            return true;
        // Copies in other namespaces cannot carry an owner reference; the operator records the set's UID on them.
        // An object with neither is someone else's, whatever its labels say: never adopted, changed or deleted.
        return metadata.Annotations?.TryGetValue(Labels.SetUidAnnotation, out var uid) == true && uid == set.Uid;
    }

    /// <summary>
    /// Whether the operator wrote this object for <paramref name="set"/> where the set may have it: owned by
    /// the set's UID, and in the set's namespace or one its spec.jwks.targetNamespaces lists. Only such an
    /// object wakes the set or teaches the operator anything about it: a labelled object elsewhere, whatever
    /// its labels and annotations claim, is another namespace's and changes nothing for this set.
    /// </summary>
    public static bool IsWrittenFor(V1ObjectMeta metadata, V1Alpha1SigningKeySet set) =>
        IsOwnedBy(metadata, SetIdentity.Of(set))
        && (metadata.NamespaceProperty == set.Metadata.NamespaceProperty
            || set.Spec?.Jwks?.TargetNamespaces?.Contains(metadata.NamespaceProperty, StringComparer.Ordinal) == true);

    /// <summary>Who holds a name, for a NameConflict message.</summary>
    public static string DescribeHolder(V1ObjectMeta metadata)
    {
        if (metadata.Labels?.TryGetValue(Labels.ManagedBy, out var managedBy) == true && managedBy == Labels.ManagedByValue)
        {
            var setName = metadata.Labels.TryGetValue(Labels.SetName, out var n) ? n : "?";
            var setNs = metadata.Labels.TryGetValue(Labels.SetNamespace, out var s) ? s : "?";
            return $"another SigningKeySet ({setNs}/{setName}, or an earlier set of that name)";
        }

        return "an object KeyRotator did not create";
    }
}
