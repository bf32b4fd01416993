using System.Security.Claims;
using System.Text;
using System.Text.Json;
using KeyRotator.Core.Keys;
using KeyRotator.Model.Jose;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace KeyRotator.Client.Tests;

/// <summary>Makes tokens that are valid in every respect but the one a test breaks.</summary>
internal sealed class TokenFactory
{
    public const string Issuer = "https://auth.example.com";
    public const string Audience = "payments";

    public TokenFactory(string algorithm = "ES256")
    {
        Key = PrivateSigningKey.Generate(JwsAlgorithm.Parse(algorithm), 2048);
    }

    public PrivateSigningKey Key { get; }

    public static DateTime Now { get; } = new(2026, 11, 28, 12, 0, 0, DateTimeKind.Utc);

    public string Jwks(params Jwk[] extra) => new JwksDocument([Key.PublicJwk, .. extra]).ToJson();

    /// <summary>A header and payload signed with the key (or left unsigned), built by hand so any rule can be broken.</summary>
    public string Token(
        Action<Dictionary<string, object?>>? header = null,
        Action<Dictionary<string, object?>>? payload = null,
        Func<byte[], byte[]>? signature = null)
    {
        var h = new Dictionary<string, object?> { ["alg"] = Key.Algorithm.Name, ["typ"] = "JWT", ["kid"] = Key.Kid };
        var issuedAt = new DateTimeOffset(Now).ToUnixTimeSeconds();
        var p = new Dictionary<string, object?>
        {
            ["iss"] = Issuer,
            ["aud"] = Audience,
            ["sub"] = "user-1",
            ["iat"] = issuedAt,
            ["nbf"] = issuedAt,
            ["exp"] = issuedAt + 300,
        };
        header?.Invoke(h);
        payload?.Invoke(p);
        var input = $"{Encode(h)}.{Encode(p)}";
        var signed = Key.Sign(Encoding.ASCII.GetBytes(input));
        return $"{input}.{Base64Url.Encode(signature?.Invoke(signed) ?? signed)}";
    }

    /// <summary>A real HS256 token whose HMAC secret is the public key: the classic key-confusion forgery.</summary>
    public string Hs256WithPublicKeyAsSecret()
    {
        var secret = Encoding.UTF8.GetBytes(Key.PublicJwk.ToJson());
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = Audience,
            IssuedAt = Now,
            NotBefore = Now,
            Expires = Now.AddMinutes(5),
            Subject = new ClaimsIdentity([new Claim("sub", "attacker")]),
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(secret) { KeyId = Key.Kid }, SecurityAlgorithms.HmacSha256),
        });
    }

    private static string Encode(Dictionary<string, object?> values) =>
        Base64Url.Encode(JsonSerializer.SerializeToUtf8Bytes(values.Where(v => v.Value is not null).ToDictionary(v => v.Key, v => v.Value)));
}
