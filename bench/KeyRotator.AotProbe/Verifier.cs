using System.Security.Cryptography;
using KeyRotator.Model.Jose;
using Base64Url = System.Buffers.Text.Base64Url;

namespace KeyRotator.AotProbe;

/// <summary>
/// Checks a token's signature with .NET's own RSA and ECDsa, built from the published JWK only
/// (independent of the operator's JwsVerifier).
/// </summary>
internal static class Verifier
{
    public static bool Verify(Jwk jwk, byte[] signingInput, byte[] signature)
    {
        if (jwk.Kty == "RSA")
        {
            using var rsa = RSA.Create(new RSAParameters { Modulus = Base64Url.DecodeFromChars(jwk.N), Exponent = Base64Url.DecodeFromChars(jwk.E) });
            var padding = jwk.Alg == "PS256" ? RSASignaturePadding.Pss : RSASignaturePadding.Pkcs1;
            return jwk.Alg is "RS256" or "PS256" && rsa.VerifyData(signingInput, signature, HashAlgorithmName.SHA256, padding);
        }

        var (curve, hash) = jwk.Alg switch
        {
            "ES256" => (ECCurve.NamedCurves.nistP256, HashAlgorithmName.SHA256),
            "ES384" => (ECCurve.NamedCurves.nistP384, HashAlgorithmName.SHA384),
            _ => throw new NotSupportedException(jwk.Alg),
        };
        using var ec = ECDsa.Create(new ECParameters { Curve = curve, Q = new ECPoint { X = Base64Url.DecodeFromChars(jwk.X), Y = Base64Url.DecodeFromChars(jwk.Y) } });
        return ec.VerifyData(signingInput, signature, hash, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }
}
