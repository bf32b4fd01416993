using KeyRotator.Model.Resources;

namespace KeyRotator.Model.Kubernetes;

/// <summary>Where a set's JWKS is published: the ConfigMap's name and its data keys.</summary>
public static class JwksNames
{
    public const string JwksKey = "jwks.json";
    public const string OpenIdConfigurationKey = "openid-configuration";

    /// <summary>spec.jwks.configMapName, or "&lt;set name&gt;-jwks".</summary>
    public static string ConfigMapName(V1Alpha1SigningKeySet set) => set.Spec.Jwks?.ConfigMapName ?? $"{set.Metadata.Name}-jwks";
}
