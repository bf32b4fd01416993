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
    public string ContentHash() => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(ToJson())))[..16];

    public static JwksDocument Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        var keys = document.RootElement.GetProperty("keys").EnumerateArray().Select(Jwk.Parse).ToList();
        return new JwksDocument(keys);
    }
}
