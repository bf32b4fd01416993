namespace KeyRotator.Model.Resources;

/// <summary>Where the merged JWKS is published.</summary>
public sealed record JwksSpec
{
    /// <summary>The ConfigMap in the set's namespace; defaults to "&lt;set name&gt;-jwks".</summary>
    public string? ConfigMapName { get; init; }

    /// <summary>Namespaces that get a copy, since ConfigMaps cannot be mounted across namespaces.</summary>
    public IList<string>? TargetNamespaces { get; init; }

    /// <summary>
    /// When set, an openid-configuration document for this issuer is published too. An https URL with
    /// no query or fragment, as OpenID Connect Discovery requires.
    /// </summary>
    public string? Issuer { get; init; }

    /// <summary>
    /// The discovery document's jwks_uri: where relying parties fetch this set's JWKS. Defaults to
    /// "&lt;issuer&gt;/.well-known/jwks.json". Always from the spec, never from a request.
    /// </summary>
    public string? JwksUri { get; init; }
}
