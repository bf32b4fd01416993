using System.Text.Json;
using Microsoft.IdentityModel.Tokens;

namespace KeyRotator.Client;

/// <summary>One parsed JWKS: keys by kid and the algorithms they are for (the verifier's allow-list).</summary>
public sealed record JwksSnapshot(IReadOnlyDictionary<string, JsonWebKey> Keys, IReadOnlySet<string> Algorithms)
{
    public static JwksSnapshot Empty { get; } = new(new Dictionary<string, JsonWebKey>(), new HashSet<string>());

    /// <summary>
    /// How many entries the document's "keys" array holds, usable or not. Zero is a key set published
    /// empty on purpose (every key revoked); keys present but none usable is something else.
    /// </summary>
    public int Entries { get; init; }

    /// <summary>
    /// The content hash of the document (lower-case hex, 16 digits of its SHA-256), the value the operator
    /// records in the ConfigMap's keyrotator.io/content-hash annotation and serves as the ETag: what a
    /// verifier reports to say which key set it holds.
    /// </summary>
    public string? ContentHash { get; init; }

    /// <summary>The content hash of a JWKS document as published (see <see cref="ContentHash"/>).</summary>
    public static string HashOf(string json) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(json)))[..16];

    /// <summary>
    /// Parses a JWKS, keeping only signature keys with a kid and an asymmetric alg. A document without a
    /// "keys" array is not a JWKS (<see cref="JsonException"/>).
    /// </summary>
    public static JwksSnapshot Parse(string json)
    {
        int entries;
        using (var document = JsonDocument.Parse(json))
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object || !document.RootElement.TryGetProperty("keys", out var array) || array.ValueKind != JsonValueKind.Array)
                throw new JsonException("not a JWKS: the document has no \"keys\" array");
            entries = array.GetArrayLength();
        }

        var set = new JsonWebKeySet(json);
        var keys = new Dictionary<string, JsonWebKey>(StringComparer.Ordinal);
        foreach (var key in set.Keys)
        {
            if (string.IsNullOrEmpty(key.Kid) || string.IsNullOrEmpty(key.Alg) || !KeyRotatorTokenValidator.IsAsymmetric(key.Alg))
                continue;
            if (!string.IsNullOrEmpty(key.Use) && key.Use != "sig")
                continue;
            keys[key.Kid] = key;
        }

        return new JwksSnapshot(keys, keys.Values.Select(k => k.Alg).ToHashSet(StringComparer.Ordinal)) { Entries = entries, ContentHash = HashOf(json) };
    }
}
