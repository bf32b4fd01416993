using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace KeyRotator.Model.Jose;

/// <summary>
/// A public JSON Web Key (RFC 7517) for signature verification. By construction it holds public
/// parameters only: there is no member for d, p, q, dp, dq or qi.
/// </summary>
public sealed record Jwk
{
    public required string Kty { get; init; }

    public required string Kid { get; init; }

    public string Use { get; init; } = "sig";

    public required string Alg { get; init; }

    /// <summary>RSA modulus, big-endian without leading zero bytes.</summary>
    public string? N { get; init; }

    /// <summary>RSA public exponent.</summary>
    public string? E { get; init; }

    public string? Crv { get; init; }

    /// <summary>EC x coordinate, padded to the curve size.</summary>
    public string? X { get; init; }

    /// <summary>EC y coordinate, padded to the curve size.</summary>
    public string? Y { get; init; }

    public static Jwk FromRsa(RSAParameters parameters, JwsAlgorithm algorithm)
    {
        var n = Base64Url.Encode(TrimLeadingZeros(parameters.Modulus!));
        var e = Base64Url.Encode(TrimLeadingZeros(parameters.Exponent!));
        return new Jwk { Kty = "RSA", Alg = algorithm.Name, N = n, E = e, Kid = Thumbprint("RSA", n: n, e: e) };
    }

    public static Jwk FromEc(ECParameters parameters, JwsAlgorithm algorithm)
    {
        var x = Base64Url.Encode(PadLeft(parameters.Q.X!, algorithm.CoordinateLength));
        var y = Base64Url.Encode(PadLeft(parameters.Q.Y!, algorithm.CoordinateLength));
        return new Jwk { Kty = "EC", Alg = algorithm.Name, Crv = algorithm.Curve, X = x, Y = y, Kid = Thumbprint("EC", crv: algorithm.Curve, x: x, y: y) };
    }

    /// <summary>The RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order, base64url.</summary>
    public static string Thumbprint(string kty, string? n = null, string? e = null, string? crv = null, string? x = null, string? y = null)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (kty == "RSA")
            {
                json.WriteString("e", e);
                json.WriteString("kty", kty);
                json.WriteString("n", n);
            }
            else
            {
                json.WriteString("crv", crv);
                json.WriteString("kty", kty);
                json.WriteString("x", x);
                json.WriteString("y", y);
            }

            json.WriteEndObject();
        }

        return Base64Url.Encode(SHA256.HashData(buffer.ToArray()));
    }

    /// <summary>Recomputes the thumbprint from the key's own members.</summary>
    public string ComputeThumbprint() => Thumbprint(Kty, N, E, Crv, X, Y);

    public void WriteTo(Utf8JsonWriter json)
    {
        json.WriteStartObject();
        json.WriteString("kty", Kty);
        json.WriteString("kid", Kid);
        json.WriteString("use", Use);
        json.WriteString("alg", Alg);
        if (Kty == "RSA")
        {
            json.WriteString("n", N);
            json.WriteString("e", E);
        }
        else
        {
            json.WriteString("crv", Crv);
            json.WriteString("x", X);
            json.WriteString("y", Y);
        }

        json.WriteEndObject();
    }

    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
            WriteTo(json);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>The public key as PKIX SubjectPublicKeyInfo DER (what Kubernetes' external signer API serves).</summary>
    public byte[] ToSubjectPublicKeyInfo()
    {
        var algorithm = JwsAlgorithm.Parse(Alg);
        if (algorithm.IsRsa)
        {
            using var rsa = RSA.Create(new RSAParameters { Modulus = Base64Url.Decode(N!), Exponent = Base64Url.Decode(E!) });
            return rsa.ExportSubjectPublicKeyInfo();
        }

        using var ec = ECDsa.Create(new ECParameters { Curve = algorithm.EcCurve, Q = new ECPoint { X = Base64Url.Decode(X!), Y = Base64Url.Decode(Y!) } });
        return ec.ExportSubjectPublicKeyInfo();
    }

    public static Jwk Parse(JsonElement element)
    {
        string? Get(string name) => element.TryGetProperty(name, out var value) ? value.GetString() : null;
        return new Jwk
        {
            Kty = Get("kty") ?? throw new FormatException("JWK without kty"),
            Kid = Get("kid") ?? throw new FormatException("JWK without kid"),
            Use = Get("use") ?? "sig",
            Alg = Get("alg") ?? throw new FormatException("JWK without alg"),
            N = Get("n"),
            E = Get("e"),
            Crv = Get("crv"),
            X = Get("x"),
            Y = Get("y"),
        };
    }

    public static Jwk Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        return Parse(document.RootElement);
    }

    private static byte[] TrimLeadingZeros(byte[] value)
    {
        var start = 0;
        while (start < value.Length - 1 && value[start] == 0)
            start++;
        return value[start..];
    }

    private static byte[] PadLeft(byte[] value, int length)
    {
        if (value.Length == length)
            return value;
        var trimmed = TrimLeadingZeros(value);
        if (trimmed.Length > length)
            throw new CryptographicException($"EC coordinate of {trimmed.Length} bytes exceeds the curve size {length}");
        var padded = new byte[length];
        trimmed.CopyTo(padded, length - trimmed.Length);
        return padded;
    }
}
