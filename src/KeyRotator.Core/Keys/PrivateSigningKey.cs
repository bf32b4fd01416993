using System.Security.Cryptography;
using KeyRotator.Model.Jose;

namespace KeyRotator.Core.Keys;

/// <summary>
/// A private signing key held in process (the Kubernetes key store). Deliberately not a record:
/// its ToString names the key and never prints the material.
/// </summary>
public sealed class PrivateSigningKey
{
    private readonly byte[] _pkcs8;

    private PrivateSigningKey(JwsAlgorithm algorithm, byte[] pkcs8, Jwk publicJwk)
    {
        Algorithm = algorithm;
        _pkcs8 = pkcs8;
        PublicJwk = publicJwk;
    }

    public JwsAlgorithm Algorithm { get; }

    public Jwk PublicJwk { get; }

    public string Kid => PublicJwk.Kid;

    /// <summary>Generates a key for <paramref name="algorithm"/>; RSA uses <paramref name="rsaKeySize"/> bits.</summary>
    public static PrivateSigningKey Generate(JwsAlgorithm algorithm, int rsaKeySize)
    {
        if (algorithm.IsRsa)
        {
            if (rsaKeySize is not (2048 or 3072 or 4096))
                throw new ArgumentOutOfRangeException(nameof(rsaKeySize), rsaKeySize, "RSA keys are 2048, 3072 or 4096 bits");
            using var rsa = RSA.Create(rsaKeySize);
            return new PrivateSigningKey(algorithm, rsa.ExportPkcs8PrivateKey(), Jwk.FromRsa(rsa.ExportParameters(false), algorithm));
        }

        using var ec = ECDsa.Create(algorithm.EcCurve);
        return new PrivateSigningKey(algorithm, ec.ExportPkcs8PrivateKey(), Jwk.FromEc(ec.ExportParameters(false), algorithm));
    }

    /// <summary>Loads a PKCS#8 key and checks that it fits <paramref name="algorithm"/>.</summary>
    public static PrivateSigningKey FromPkcs8(JwsAlgorithm algorithm, byte[] pkcs8)
    {
        if (algorithm.IsRsa)
        {
            using var rsa = RSA.Create();
            rsa.ImportPkcs8PrivateKey(pkcs8, out _);
            return new PrivateSigningKey(algorithm, pkcs8, Jwk.FromRsa(rsa.ExportParameters(false), algorithm));
        }

        using var ec = ECDsa.Create();
        ec.ImportPkcs8PrivateKey(pkcs8, out _);
        var parameters = ec.ExportParameters(false);
        if (parameters.Curve.Oid.FriendlyName != algorithm.EcCurve.Oid.FriendlyName && parameters.Curve.Oid.Value != algorithm.EcCurve.Oid.Value)
            throw new CryptographicException($"the stored key is not on {algorithm.Curve}");
        return new PrivateSigningKey(algorithm, pkcs8, Jwk.FromEc(parameters, algorithm));
    }

    public static PrivateSigningKey FromPem(JwsAlgorithm algorithm, string pem)
    {
        var fields = PemEncoding.Find(pem);
        return FromPkcs8(algorithm, Convert.FromBase64String(pem[fields.Base64Data]));
    }

    /// <summary>PKCS#8 PEM ("PRIVATE KEY"), for the signing Secret and the key store only.</summary>
    public string ExportPkcs8Pem() => PemEncoding.WriteString("PRIVATE KEY", _pkcs8);

    public byte[] ExportPkcs8() => (byte[])_pkcs8.Clone();

    /// <summary>A JWS signature over <paramref name="data"/> (raw R||S for ES*).</summary>
    public byte[] Sign(ReadOnlySpan<byte> data)
    {
        if (Algorithm.IsRsa)
        {
            using var rsa = RSA.Create();
            rsa.ImportPkcs8PrivateKey(_pkcs8, out _);
            return rsa.SignData(data.ToArray(), Algorithm.Hash, Algorithm.RsaPadding);
        }

        using var ec = ECDsa.Create();
        ec.ImportPkcs8PrivateKey(_pkcs8, out _);
        return ec.SignData(data, Algorithm.Hash, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }

    public override string ToString() => $"{Algorithm.Name} key {Kid}";
}
