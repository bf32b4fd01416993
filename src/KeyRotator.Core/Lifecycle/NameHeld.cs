namespace KeyRotator.Core.Lifecycle;

/// <summary>
/// A name the set writes that something else holds (seen in the cache before anything is written, or
/// answered by the API server when a write found it taken).
/// </summary>
/// <param name="Kind">ConfigMap or Secret.</param>
/// <param name="Field">The spec field that names it (<c>spec.jwks.configMapName</c>, <c>spec.signingSecretName</c>), or null for the key store.</param>
/// <param name="Holder">Who holds it, as <c>Ownership.DescribeHolder</c> says (never its content).</param>
public sealed record NameHeld(string Kind, string Namespace, string Name, string? Field, string Holder);
