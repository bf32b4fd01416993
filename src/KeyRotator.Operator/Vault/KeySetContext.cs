using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Kubernetes;

namespace KeyRotator.Operator.Vault;

/// <summary>The set a key-store call is for: identity (UID tags every vault key) and policy.</summary>
public sealed record KeySetContext(string Namespace, string Name, string Uid, RotationPolicy Policy, SigningKeySetSpec Spec)
{
    public SetIdentity Identity => new(Namespace, Name, Uid);
}
