namespace KeyRotator.Model.Resources;

/// <summary>
/// One place outside the cluster where the set's JWKS (and, with spec.jwks.issuer, its discovery
/// document) is published, under the same pre-publish and revocation rules as the ConfigMaps.
/// </summary>
public sealed record PublishSpec
{
    /// <summary>The ClusterPublishTarget (granted to this namespace by the platform team).</summary>
    public string Target { get; init; } = "";

    /// <summary>The path inside the target's container the documents go under, e.g. "team-a/auth" (no leading or trailing slash).</summary>
    public string Path { get; init; } = "";

    /// <summary>
    /// Jwks (default): &lt;path&gt;/.well-known/openid-configuration and &lt;path&gt;/.well-known/jwks.json;
    /// KubernetesIssuer: &lt;path&gt;/.well-known/openid-configuration and &lt;path&gt;/openid/v1/jwks, the
    /// Kubernetes service-account issuer's paths, so that federation set-ups point at it unchanged.
    /// </summary>
    public string? Layout { get; init; }
}
