using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace KeyRotator.Model.Jose;

/// <summary>A JWK Set document (RFC 7517 §5): {"keys":[…]} in the order given.</summary>
public sealed record JwksDocument(IReadOnlyList<Jwk> Keys)
{
    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteStartArray("keys");
            foreach (var key in Keys)
                key.WriteTo(json);
            json.WriteEndArray();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    /// <summary>A short content hash, for annotations that show at a glance whether two copies agree.</summary>
    public string ContentHash() => ContentHashOf(ToJson());

    /// <summary>
    /// The content hash of a JWKS document as it is served and mounted: the first 16 lower-case hex digits
    /// of the SHA-256 of its UTF-8 bytes. KeyRotator.Client's JwksSnapshot.HashOf computes the same, and
    /// verifiers report it; the operator computes it from the data itself, never from an annotation.
    /// </summary>
    public static string ContentHashOf(string json) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(json)))[..16];

    public static JwksDocument Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        var keys = document.RootElement.GetProperty("keys").EnumerateArray().Select(Jwk.Parse).ToList();
        return new JwksDocument(keys);
    }
}
