using System.Text;
using System.Text.Json;
using KeyRotator.Model.Jose;

namespace KeyRotator.Operator.Serving;

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

    /// <summary>
    /// The parts of a bearer token the checks read, parsed once: header, claims, and what the signature
    /// covers. <paramref name="Namespace"/> is the service account's namespace (the <c>kubernetes.io</c>
    /// claim): to be trusted only once the signature has verified.
    /// </summary>
    public sealed record Token(string? Alg, string? Kid, long? Exp, long? Nbf, IReadOnlyList<string> Audiences, string SigningInput, byte[] Signature, string? Namespace = null)
    {
        /// <summary>The token's own expiry (exp), when it has one.</summary>
        public DateTimeOffset? Expires => Exp is { } exp ? DateTimeOffset.FromUnixTimeSeconds(Math.Clamp(exp, 0, MaxUnixSeconds)) : null;
    }

    private const long MaxUnixSeconds = 253402300799;

    /// <summary>The token's parts, or why it is not a compact JWS of base64url JSON.</summary>
    public static (Token? Token, string? Problem) Parse(string token)
    {
        if (token.Length > MaxTokenLength)
            return (null, "the token is too long to be a service-account token");
        var parts = token.Split('.');
        if (parts.Length != 3 || parts.Any(p => p.Length == 0))
            return (null, "the token is not a compact JWS (header.payload.signature)");
        try
        {
            using var header = JsonDocument.Parse(Base64Url.Decode(parts[0]));
            using var payload = JsonDocument.Parse(Base64Url.Decode(parts[1]));
            var claims = payload.RootElement;
            var audiences = claims.ValueKind == JsonValueKind.Object && claims.TryGetProperty("aud", out var aud)
                ? aud.ValueKind switch
                {
                    JsonValueKind.String => [aud.GetString()!],
                    JsonValueKind.Array => aud.EnumerateArray().Where(a => a.ValueKind == JsonValueKind.String).Select(a => a.GetString()!).ToList(),
                    _ => [],
                }
                : (IReadOnlyList<string>)[];
            var kubernetes = claims.ValueKind == JsonValueKind.Object && claims.TryGetProperty("kubernetes.io", out var k) ? k : default;
            return (new Token(String(header.RootElement, "alg"), String(header.RootElement, "kid"), Number(claims, "exp"), Number(claims, "nbf"), audiences,
                $"{parts[0]}.{parts[1]}", Base64Url.Decode(parts[2]), String(kubernetes, "namespace")), null);
        }
        catch (Exception e) when (e is FormatException or JsonException or ArgumentException or InvalidOperationException)
        {
            return (null, "the token's header or payload is not base64url JSON");
        }
    }

    /// <summary>Why the token cannot be a valid service-account token for <paramref name="audience"/> (null: any, left to TokenReview); null when it may be.</summary>
    /// <param name="issuerKeys">The cluster issuer's keys by kid, or null when they cannot be read (the signature is then left to TokenReview).</param>
    public static string? Problem(Token token, string? audience, DateTimeOffset now, IReadOnlyDictionary<string, Jwk>? issuerKeys)
    {
        if (token.Alg is null || !JwsAlgorithm.TryParse(token.Alg, out var algorithm))
            return "the token's alg is not an asymmetric signature algorithm";
        if (audience is not null && !token.Audiences.Contains(audience))
            return $"the token is not bound to the audience {audience}";
        if (token.Expires is not { } expires || expires <= now)
            return "the token has expired (or has no exp)";
        if (token.Nbf is { } notBefore && DateTimeOffset.FromUnixTimeSeconds(Math.Clamp(notBefore, 0, MaxUnixSeconds)) > now + TimeSpan.FromMinutes(1))
            return "the token is not valid yet";
        if (issuerKeys is null)
            return null;
        if (token.Kid is null || !issuerKeys.TryGetValue(token.Kid, out var key) || key.Kty != (algorithm.IsRsa ? "RSA" : "EC"))
            return "the token is not signed by a key of the cluster's service-account issuer";
        try
        {
            return JwsVerifier.Verify(key with { Alg = algorithm.Name }, Encoding.ASCII.GetBytes(token.SigningInput), token.Signature)
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
