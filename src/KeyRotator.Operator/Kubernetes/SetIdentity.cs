using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;

namespace KeyRotator.Operator.Kubernetes;

/// <summary>Which set an object belongs to: keys and objects belong to a set's UID, not to its name.</summary>
public sealed record SetIdentity(string Namespace, string Name, string Uid)
{
    public static SetIdentity Of(V1Alpha1SigningKeySet set) => new(set.Metadata.NamespaceProperty, set.Metadata.Name, set.Metadata.Uid);
}
