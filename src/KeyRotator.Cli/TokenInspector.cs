using System.Text;
using System.Text.Json;
using KeyRotator.Model.Jose;

namespace KeyRotator.Cli;

/// <summary>
/// Decodes a JWT without trusting it (nothing in it is executed or fetched) and lists what the
/// hardening checklist would object to. Verification, when asked for, uses only the given JWKS.
/// </summary>
public static class TokenInspector
{
    public static readonly TimeSpan MaximumLifetime = TimeSpan.FromMinutes(15);

    public sealed record Report(JsonElement? Header, JsonElement? Payload, IReadOnlyList<string> Findings, string? Verification);

    public static Report Inspect(string token, DateTimeOffset now, JwksDocument? jwks)
    {
        var parts = token.Trim().Split('.');
        if (parts.Length != 3)
            return new Report(null, null, ["malformed: a JWS has three dot-separated parts"], null);
        JsonElement header, payload;
        try
        {
            header = JsonDocument.Parse(Base64Url.Decode(parts[0])).RootElement.Clone();
            payload = JsonDocument.Parse(Base64Url.Decode(parts[1])).RootElement.Clone();
        }
        catch (Exception e) when (e is FormatException or JsonException)
        {
            return new Report(null, null, ["malformed: header or payload is not base64url JSON"], null);
        }

        var findings = new List<string>();
        var alg = String(header, "alg");
        var kid = String(header, "kid");
        if (alg is null)
            findings.Add("alg_missing: the header has no alg");
        else if (alg.Equals("none", StringComparison.OrdinalIgnoreCase))
            findings.Add("alg_none: the token is unsigned (alg none)");
        else if (alg.StartsWith("HS", StringComparison.Ordinal))
            findings.Add($"alg_symmetric: {alg} is an HMAC algorithm; with a JWKS it invites key-confusion forgeries");
        else if (!JwsAlgorithm.TryParse(alg, out _))
            findings.Add($"alg_unknown: {alg} is not an allowed algorithm");
        if (kid is null)
            findings.Add("kid_missing: the header has no kid");
        if (header.TryGetProperty("crit", out _))
            findings.Add("crit: the header names critical extensions; KeyRotator.Client rejects such tokens (RFC 7515 §4.1.11)");
        foreach (var (name, risk) in new[]
        {
            ("jku", "a URL to fetch keys from"),
            ("x5u", "a URL to fetch a certificate from"),
            ("x5c", "an embedded certificate chain"),
            ("jwk", "an embedded public key"),
        })
        {
            if (header.TryGetProperty(name, out _))
                findings.Add($"{name}: the header carries {risk}; a verifier that trusts it lets the token choose its own key (verification here ignores it and uses only the JWKS)");
        }
        if (String(payload, "iss") is null)
            findings.Add("iss_missing: the token has no issuer");
        if (!payload.TryGetProperty("aud", out _))
            findings.Add("aud_missing: the token has no audience");

        var exp = Seconds(payload, "exp");
        var iat = Seconds(payload, "iat") ?? Seconds(payload, "nbf");
        if (exp is null)
            findings.Add("exp_missing: the token never expires");
        else if (exp < now)
            findings.Add($"expired: at {exp:u}");
        if (exp is not null && iat is not null && exp - iat > MaximumLifetime)
            findings.Add($"lifetime_too_long: {exp - iat} is longer than {MaximumLifetime}");
        if (Seconds(payload, "nbf") is { } nbf && nbf > now)
            findings.Add($"not_yet_valid: from {nbf:u}");

        string? verification = null;
        if (jwks is not null)
        {
            var key = jwks.Keys.FirstOrDefault(k => k.Kid == kid);
            verification = key is null ? $"unknown_kid: {kid} is not in the JWKS"
                : key.Alg != alg ? $"alg_mismatch: key {kid} is for {key.Alg}, the token says {alg}"
                : JwsVerifier.Verify(key, Encoding.ASCII.GetBytes($"{parts[0]}.{parts[1]}"), Base64Url.Decode(parts[2])) ? "valid signature"
                : "bad_signature: the signature does not verify";
        }

        return new Report(header, payload, findings, verification);
    }

    private static string? String(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static DateTimeOffset? Seconds(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.TryGetInt64(out var seconds)
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : null;
}
