using System.Security.Cryptography;

namespace KeyRotator.Model.Jose;

/// <summary>Verifies a JWS signature against a public JWK (used to prove keys and recorded vault signatures).</summary>
public static class JwsVerifier
{
    /// <summary>Verifies a signature over a JWS signing input.</summary>
    public static bool Verify(Jwk key, ReadOnlySpan<byte> signingInput, ReadOnlySpan<byte> signature) =>
        VerifyCore(key, signingInput, signature, prehashed: false);

    /// <summary>Verifies a signature over a digest computed elsewhere (a vault's sign operation takes the digest).</summary>
    public static bool VerifyDigest(Jwk key, ReadOnlySpan<byte> digest, ReadOnlySpan<byte> signature) =>
        VerifyCore(key, digest, signature, prehashed: true);

    private static bool VerifyCore(Jwk key, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature, bool prehashed)
    {
        if (!JwsAlgorithm.TryParse(key.Alg, out var algorithm))
            return false;
        if (algorithm.IsRsa)
        {
            using var rsa = RSA.Create(new RSAParameters { Modulus = Base64Url.Decode(key.N!), Exponent = Base64Url.Decode(key.E!) });
            return prehashed
                ? rsa.VerifyHash(data, signature, algorithm.Hash, algorithm.RsaPadding)
                : rsa.VerifyData(data, signature, algorithm.Hash, algorithm.RsaPadding);
        }

        using var ec = ECDsa.Create(new ECParameters
        {
            Curve = algorithm.EcCurve,
            Q = new ECPoint { X = Base64Url.Decode(key.X!), Y = Base64Url.Decode(key.Y!) },
        });
        if (signature.Length != 2 * algorithm.CoordinateLength)
            return false;
        return prehashed
            ? ec.VerifyHash(data, signature, DSASignatureFormat.IeeeP1363FixedFieldConcatenation)
            : ec.VerifyData(data, signature, algorithm.Hash, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }
}
