using System.Text;
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
    /// <summary>Written member by member, as the JWKS is (no reflection); compact, with the serializer's default escaping.</summary>
    public static string Serialize(string issuer, string algorithm, string jwksUri)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("issuer", issuer);
            json.WriteString("jwks_uri", jwksUri);
            WriteArray(json, "response_types_supported", "id_token");
            WriteArray(json, "subject_types_supported", "public");
            WriteArray(json, "id_token_signing_alg_values_supported", algorithm);
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    private static void WriteArray(Utf8JsonWriter json, string name, string value)
    {
        json.WriteStartArray(name);
        json.WriteStringValue(value);
        json.WriteEndArray();
    }
}
