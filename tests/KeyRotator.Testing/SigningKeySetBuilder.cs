using k8s.Models;
using KeyRotator.Model.Resources;

namespace KeyRotator.Testing;

/// <summary>Builds SigningKeySets for tests, starting from a valid ES256 set that rotates every 720h.</summary>
public sealed class SigningKeySetBuilder
{
    private readonly V1Alpha1SigningKeySet _set;

    private SigningKeySetBuilder(string name, string ns)
    {
        _set = new V1Alpha1SigningKeySet
        {
            Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns },
            Spec = new SigningKeySetSpec
            {
                Algorithm = "ES256",
                Rotation = new RotationSpec { Interval = "720h" },
            },
        };
    }

    public static SigningKeySetBuilder Named(string name, string ns) => new(name, ns);

    public SigningKeySetBuilder WithSpec(Func<SigningKeySetSpec, SigningKeySetSpec> change)
    {
        _set.Spec = change(_set.Spec);
        return this;
    }

    public SigningKeySetBuilder WithAlgorithm(string algorithm, int? rsaKeySize = null) =>
        WithSpec(s => s with { Algorithm = algorithm, RsaKeySize = rsaKeySize });

    public SigningKeySetBuilder WithRotation(Func<RotationSpec, RotationSpec> change) =>
        WithSpec(s => s with { Rotation = change(s.Rotation) });

    public SigningKeySetBuilder WithAnnotation(string key, string value)
    {
        _set.Metadata.Annotations ??= new Dictionary<string, string>();
        _set.Metadata.Annotations[key] = value;
        return this;
    }

    public V1Alpha1SigningKeySet Build() => _set;
}
