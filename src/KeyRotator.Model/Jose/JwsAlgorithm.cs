using System.Security.Cryptography;

namespace KeyRotator.Model.Jose;

/// <summary>The nine asymmetric JWS algorithms KeyRotator issues keys for (RFC 7518 §3).</summary>
public sealed record JwsAlgorithm
{
    private JwsAlgorithm(string name, KeyFamily family, HashAlgorithmName hash, string? curve = null, int coordinateLength = 0)
    {
        Name = name;
        Family = family;
        Hash = hash;
        Curve = curve;
        CoordinateLength = coordinateLength;
    }

    public string Name { get; }

    public KeyFamily Family { get; }

    public HashAlgorithmName Hash { get; }

    /// <summary>The JWK "crv" for EC algorithms.</summary>
    public string? Curve { get; }

    /// <summary>Bytes in each EC coordinate (and half the raw R||S signature).</summary>
    public int CoordinateLength { get; }

    public bool IsRsa => Family is KeyFamily.RsaPkcs1 or KeyFamily.RsaPss;

    public static readonly JwsAlgorithm RS256 = new("RS256", KeyFamily.RsaPkcs1, HashAlgorithmName.SHA256);
    public static readonly JwsAlgorithm RS384 = new("RS384", KeyFamily.RsaPkcs1, HashAlgorithmName.SHA384);
    public static readonly JwsAlgorithm RS512 = new("RS512", KeyFamily.RsaPkcs1, HashAlgorithmName.SHA512);
    public static readonly JwsAlgorithm PS256 = new("PS256", KeyFamily.RsaPss, HashAlgorithmName.SHA256);
    public static readonly JwsAlgorithm PS384 = new("PS384", KeyFamily.RsaPss, HashAlgorithmName.SHA384);
    public static readonly JwsAlgorithm PS512 = new("PS512", KeyFamily.RsaPss, HashAlgorithmName.SHA512);
    public static readonly JwsAlgorithm ES256 = new("ES256", KeyFamily.Ec, HashAlgorithmName.SHA256, "P-256", 32);
    public static readonly JwsAlgorithm ES384 = new("ES384", KeyFamily.Ec, HashAlgorithmName.SHA384, "P-384", 48);
    public static readonly JwsAlgorithm ES512 = new("ES512", KeyFamily.Ec, HashAlgorithmName.SHA512, "P-521", 66);

    public static IReadOnlyList<JwsAlgorithm> All { get; } = [RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512];

    public static bool TryParse(string? name, out JwsAlgorithm algorithm)
    {
        // Exact, case-sensitive match: "none", HS* and lookalikes such as "es256" are not algorithms here.
        algorithm = All.FirstOrDefault(a => a.Name == name)!;
        return algorithm is not null;
    }

    public static JwsAlgorithm Parse(string name) =>
        TryParse(name, out var algorithm) ? algorithm : throw new ArgumentException($"\"{name}\" is not one of {string.Join(", ", All)}", nameof(name));

    public ECCurve EcCurve => Curve switch
    {
        "P-256" => ECCurve.NamedCurves.nistP256,
        "P-384" => ECCurve.NamedCurves.nistP384,
        "P-521" => ECCurve.NamedCurves.nistP521,
        _ => throw new InvalidOperationException($"{Name} is not an EC algorithm"),
    };

    public RSASignaturePadding RsaPadding => Family switch
    {
        KeyFamily.RsaPkcs1 => RSASignaturePadding.Pkcs1,
        KeyFamily.RsaPss => RSASignaturePadding.Pss,
        _ => throw new InvalidOperationException($"{Name} is not an RSA algorithm"),
    };

    /// <summary>The digest this algorithm signs: what a vault's sign operation takes.</summary>
    public byte[] Digest(ReadOnlySpan<byte> data) => CryptographicOperations.HashData(Hash, data);

    public override string ToString() => Name;
}
