using System.Text;
using System.Text.Json;
using KeyRotator.Core.Jose;

namespace KeyRotator.Operator.Observability;

/// <summary>
/// The checks a bearer token must pass before it may cost the API server a TokenReview: a compact JWS
/// whose header names an asymmetric algorithm and a kid, whose payload is bound to the report audience
/// and not expired, and (when the cluster's service-account issuer keys are known) whose signature
/// verifies against them. A junk token is refused here, for the price of a parse and one verification.
/// </summary>
public static class ServiceAccountTokenCheck
{
    /// <summary>Tokens longer than this are not service-account tokens (those are about 1 KB).</summary>
    public const int MaxTokenLength = 16 * 1024;

    /// <summary>Why the token cannot be a valid service-account token for <paramref name="audience"/>; null when it may be.</summary>
    /// <param name="issuerKeys">The cluster issuer's keys by kid, or null when they cannot be read (the signature is then left to TokenReview).</param>
    public static string? Problem(string token, string audience, DateTimeOffset now, IReadOnlyDictionary<string, Jwk>? issuerKeys)
    {
        if (token.Length > MaxTokenLength)
            return "the token is too long to be a service-account token";
        var parts = token.Split('.');
        if (parts.Length != 3 || parts.Any(p => p.Length == 0))
            return "the token is not a compact JWS (header.payload.signature)";
        string? alg, kid;
        long? exp, nbf;
        bool audienceMatches;
        byte[] signature;
        try
        {
            using (var header = JsonDocument.Parse(Base64Url.Decode(parts[0])))
            {
                alg = String(header.RootElement, "alg");
                kid = String(header.RootElement, "kid");
            }

            using (var payload = JsonDocument.Parse(Base64Url.Decode(parts[1])))
            {
                exp = Number(payload.RootElement, "exp");
                nbf = Number(payload.RootElement, "nbf");
                audienceMatches = payload.RootElement.ValueKind == JsonValueKind.Object && payload.RootElement.TryGetProperty("aud", out var aud) && aud.ValueKind switch
                {
                    JsonValueKind.String => aud.GetString() == audience,
                    JsonValueKind.Array => aud.EnumerateArray().Any(a => a.ValueKind == JsonValueKind.String && a.GetString() == audience),
                    _ => false,
                };
            }

            signature = Base64Url.Decode(parts[2]);
        }
        catch (Exception e) when (e is FormatException or JsonException or ArgumentException or InvalidOperationException)
        {
            return "the token's header or payload is not base64url JSON";
        }

        if (alg is null || !JwsAlgorithm.TryParse(alg, out var algorithm))
            return "the token's alg is not an asymmetric signature algorithm";
        if (!audienceMatches)
            return $"the token is not bound to the audience {audience}";
        if (exp is null || DateTimeOffset.FromUnixTimeSeconds(Math.Clamp(exp.Value, 0, 253402300799)) <= now)
            return "the token has expired (or has no exp)";
        if (nbf is { } notBefore && DateTimeOffset.FromUnixTimeSeconds(Math.Clamp(notBefore, 0, 253402300799)) > now + TimeSpan.FromMinutes(1))
            return "the token is not valid yet";
        if (issuerKeys is null)
            return null;
        if (kid is null || !issuerKeys.TryGetValue(kid, out var key) || key.Kty != (algorithm.IsRsa ? "RSA" : "EC"))
            return "the token is not signed by a key of the cluster's service-account issuer";
        try
        {
            return JwsVerifier.Verify(key with { Alg = algorithm.Name }, Encoding.ASCII.GetBytes($"{parts[0]}.{parts[1]}"), signature)
                ? null
                : "the token's signature does not verify against the cluster's service-account issuer keys";
        }
        catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or FormatException or ArgumentException)
        {
            return "the token's signature does not verify against the cluster's service-account issuer keys";
        }
    }

    private static string? String(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static long? Number(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number) ? number : null;
}
