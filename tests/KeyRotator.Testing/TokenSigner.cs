using System.Security.Claims;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace KeyRotator.Testing;

/// <summary>A signer as a service would write one: the PEM from the signing Secret, the kid in the header.</summary>
public static class TokenSigner
{
    public static string Sign(string pem, string kid, string alg, string issuer, string audience, DateTime now, TimeSpan lifetime)
    {
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = audience,
            IssuedAt = now,
            NotBefore = now,
            Expires = now + lifetime,
            Subject = new ClaimsIdentity([new Claim("sub", "test-user")]),
            SigningCredentials = KeyRotator.Client.KeyRotatorSigner.CredentialsFromPem(pem, kid, alg),
        });
    }

    /// <summary>Verifies with the JWKS as the only key source, as a hardened verifier would.</summary>
    public static async Task<TokenValidationResult> VerifyAsync(string token, string jwksJson, string alg, string issuer, string audience, DateTime now)
    {
        var keys = new JsonWebKeySet(jwksJson).GetSigningKeys();
        return await new JsonWebTokenHandler().ValidateTokenAsync(token, new TokenValidationParameters
        {
            IssuerSigningKeys = keys,
            ValidIssuer = issuer,
            ValidAudience = audience,
            ValidAlgorithms = [alg],
            ClockSkew = TimeSpan.FromSeconds(1),
            RequireSignedTokens = true,
            RequireExpirationTime = true,
            LifetimeValidator = (notBefore, expires, _, p) => notBefore <= now + p.ClockSkew && expires >= now - p.ClockSkew,
        });
    }
}
