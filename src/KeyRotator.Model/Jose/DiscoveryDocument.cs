using System.Text.Json;

namespace KeyRotator.Model.Jose;

/// <summary>
/// The OpenID discovery document a set publishes when spec.jwks.issuer is set (in the JWKS ConfigMap
/// and over HTTP). KeyRotator is not an OpenID Provider: it signs nothing for end users and has no
/// authorization endpoint. Like the Kubernetes API server's service-account issuer discovery, it still
/// carries every other member OpenID Connect Discovery 1.0 requires (response_types_supported,
/// subject_types_supported), so that consumers that check them, such as cloud IAM federation, accept it.
/// </summary>
public static class DiscoveryDocument
{
    private static readonly string[] ResponseTypes = ["id_token"];
    private static readonly string[] SubjectTypes = ["public"];

    public static string Serialize(string issuer, string algorithm, string jwksUri) =>
        JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["issuer"] = issuer,
            ["jwks_uri"] = jwksUri,
            ["response_types_supported"] = ResponseTypes,
            ["subject_types_supported"] = SubjectTypes,
            ["id_token_signing_alg_values_supported"] = new[] { algorithm },
        }) + "\n";
}
