using System.Security.Cryptography;

namespace KeyRotator.Core.Jose;

/// <summary>Verifies a JWS signature against a public JWK (used to prove keys and recorded vault signatures).</summary>
public static class JwsVerifier
{
    /// <summary>Verifies a signature over a digest computed elsewhere (a vault's sign operation takes the digest).</summary>
    public static bool VerifyDigest(Jwk key, ReadOnlySpan<byte> digest, ReadOnlySpan<byte> signature)
    {
        if (!JwsAlgorithm.TryParse(key.Alg, out var algorithm))
            return false;
        if (algorithm.IsRsa)
        {
            using var rsa = RSA.Create(new RSAParameters { Modulus = Base64Url.Decode(key.N!), Exponent = Base64Url.Decode(key.E!) });
            return rsa.VerifyHash(digest, signature, algorithm.Hash, algorithm.RsaPadding);
        }

        using var ec = ECDsa.Create(new ECParameters
        {
            Curve = algorithm.EcCurve,
            Q = new ECPoint { X = Base64Url.Decode(key.X!), Y = Base64Url.Decode(key.Y!) },
        });
        return signature.Length == 2 * algorithm.CoordinateLength
            && ec.VerifyHash(digest, signature, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }

    public static bool Verify(Jwk key, ReadOnlySpan<byte> signingInput, ReadOnlySpan<byte> signature)
    {
        if (!JwsAlgorithm.TryParse(key.Alg, out var algorithm))
            return false;
        if (algorithm.IsRsa)
        {
            using var rsa = RSA.Create(new RSAParameters { Modulus = Base64Url.Decode(key.N!), Exponent = Base64Url.Decode(key.E!) });
            return rsa.VerifyData(signingInput, signature, algorithm.Hash, algorithm.RsaPadding);
        }

        using var ec = ECDsa.Create(new ECParameters
        {
            Curve = algorithm.EcCurve,
            Q = new ECPoint { X = Base64Url.Decode(key.X!), Y = Base64Url.Decode(key.Y!) },
        });
        return signature.Length == 2 * algorithm.CoordinateLength
            && ec.VerifyData(signingInput, signature, algorithm.Hash, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }
}
