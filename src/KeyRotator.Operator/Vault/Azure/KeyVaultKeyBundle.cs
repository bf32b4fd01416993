using System.Security.Cryptography;
using System.Text.Json;
using KeyRotator.Model.Jose;

namespace KeyRotator.Operator.Vault.Azure;

/// <summary>
/// A key version as Azure Key Vault's REST API (7.4) returns it: {"key": JWK with a kid URL, "attributes", "tags"}.
/// The vault's kid is a URL; the JWK published by KeyRotator carries the RFC 7638 thumbprint instead.
/// </summary>
public sealed record KeyVaultKeyBundle(Uri KeyId, Jwk PublicJwk, bool Enabled, DateTimeOffset? Created, IReadOnlyDictionary<string, string> Tags)
{
    /// <summary>The key's version: the last segment of its key id URL.</summary>
    public string Version => VersionOf(KeyId);

    /// <summary>The version in a key id URL (https://vault/keys/name/version).</summary>
    public static string VersionOf(Uri keyId) => keyId.Segments[^1].TrimEnd('/');

    public static KeyVaultKeyBundle Parse(JsonElement body, JwsAlgorithm algorithm)
    {
        var key = body.GetProperty("key");
        var kid = new Uri(key.GetProperty("kid").GetString() ?? throw new FormatException("key.kid is missing"));
        var kty = key.GetProperty("kty").GetString();
        Jwk jwk = kty switch
        {
            "EC" or "EC-HSM" => Jwk.FromEc(new ECParameters
            {
                Curve = algorithm.EcCurve,
                Q = new ECPoint { X = Base64Url.Decode(key.GetProperty("x").GetString()!), Y = Base64Url.Decode(key.GetProperty("y").GetString()!) },
            }, algorithm),
            "RSA" or "RSA-HSM" => Jwk.FromRsa(new RSAParameters
            {
                Modulus = Base64Url.Decode(key.GetProperty("n").GetString()!),
                Exponent = Base64Url.Decode(key.GetProperty("e").GetString()!),
            }, algorithm),
            _ => throw new FormatException($"unsupported key type {kty}"),
        };
        if (algorithm.Curve is { } curve && key.TryGetProperty("crv", out var crv) && crv.GetString() != curve)
            throw new FormatException($"the vault key is on {crv.GetString()}, not {curve}");

        var (enabled, created, tags) = ParseAttributes(body);
        return new KeyVaultKeyBundle(kid, jwk, enabled, created, tags);
    }

    /// <summary>What key bundles and listed versions share: attributes.enabled, attributes.created (unix seconds) and tags.</summary>
    public static (bool Enabled, DateTimeOffset? Created, IReadOnlyDictionary<string, string> Tags) ParseAttributes(JsonElement body)
    {
        var enabled = true;
        DateTimeOffset? created = null;
        if (body.TryGetProperty("attributes", out var attributes))
        {
            if (attributes.TryGetProperty("enabled", out var e))
                enabled = e.GetBoolean();
            if (attributes.TryGetProperty("created", out var c) && c.TryGetInt64(out var seconds))
                created = DateTimeOffset.FromUnixTimeSeconds(seconds);
        }

        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        if (body.TryGetProperty("tags", out var t) && t.ValueKind == JsonValueKind.Object)
        {
            foreach (var tag in t.EnumerateObject())
                tags[tag.Name] = tag.Value.GetString() ?? "";
        }

        return (enabled, created, tags);
    }
}
