using System.Security.Cryptography;
using System.Text;
using KeyRotator.Core.Keys;
using KeyRotator.Model.Jose;

namespace KeyRotator.Core.Tests.Jose;

public sealed class JwkTests
{
    [Fact]
    public void Thumbprint_matches_the_RFC_7638_example()
    {
        const string n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

        Assert.Equal("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", Jwk.Thumbprint("RSA", n: n, e: "AQAB"));
    }

    public static TheoryData<string> Algorithms => [.. JwsAlgorithm.All.Select(a => a.Name)];

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Generated_key_publishes_only_public_members_with_a_thumbprint_kid(string name)
    {
        var algorithm = JwsAlgorithm.Parse(name);
        var key = PrivateSigningKey.Generate(algorithm, 2048);

        var json = key.PublicJwk.ToJson();

        Assert.Equal(key.PublicJwk.ComputeThumbprint(), key.Kid);
        Assert.Equal(43, key.Kid.Length);
        Assert.Contains("\"use\":\"sig\"", json, StringComparison.Ordinal);
        Assert.Contains($"\"alg\":\"{name}\"", json, StringComparison.Ordinal);
        foreach (var member in new[] { "d", "p", "q", "dp", "dq", "qi" })
            Assert.DoesNotContain($"\"{member}\":", json, StringComparison.Ordinal);
        Assert.DoesNotContain("=", json, StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE", key.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ES256", 32)]
    [InlineData("ES384", 48)]
    [InlineData("ES512", 66)]
    public void EC_coordinates_are_padded_to_the_curve_size(string name, int length)
    {
        var algorithm = JwsAlgorithm.Parse(name);
        for (var i = 0; i < 40; i++)
        {
            var jwk = PrivateSigningKey.Generate(algorithm, 0).PublicJwk;
            Assert.Equal(length, Base64Url.Decode(jwk.X!).Length);
            Assert.Equal(length, Base64Url.Decode(jwk.Y!).Length);
        }
    }

    [Fact]
    public void RSA_modulus_has_no_leading_zero_byte()
    {
        var jwk = PrivateSigningKey.Generate(JwsAlgorithm.RS256, 2048).PublicJwk;
        var modulus = Base64Url.Decode(jwk.N!);

        Assert.Equal(256, modulus.Length);
        Assert.NotEqual(0, modulus[0]);
        Assert.Equal("AQAB", jwk.E);
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Signature_verifies_against_the_published_jwk_and_pem_round_trips(string name)
    {
        var algorithm = JwsAlgorithm.Parse(name);
        var key = PrivateSigningKey.Generate(algorithm, 2048);
        var input = Encoding.ASCII.GetBytes("header.payload");

        var reloaded = PrivateSigningKey.FromPem(algorithm, key.ExportPkcs8Pem());

        Assert.Equal(key.Kid, reloaded.Kid);
        Assert.True(JwsVerifier.Verify(key.PublicJwk, input, reloaded.Sign(input)));
        Assert.False(JwsVerifier.Verify(key.PublicJwk, Encoding.ASCII.GetBytes("header.tampered"), key.Sign(input)));
    }

    [Theory]
    [InlineData("none")]
    [InlineData("HS256")]
    [InlineData("es256")]
    [InlineData("")]
    public void Unsafe_or_unknown_algorithms_are_not_algorithms(string name) => Assert.False(JwsAlgorithm.TryParse(name, out _));

    [Fact]
    public void Jwks_document_round_trips_in_order()
    {
        var keys = new[] { JwsAlgorithm.ES256, JwsAlgorithm.RS256 }.Select(a => PrivateSigningKey.Generate(a, 2048).PublicJwk).ToList();
        var document = new JwksDocument(keys);

        var parsed = JwksDocument.Parse(document.ToJson());

        Assert.Equal(keys, parsed.Keys);
        Assert.Equal(document.ContentHash(), parsed.ContentHash());
    }

    [Fact]
    public void Key_on_the_wrong_curve_is_refused()
    {
        var p384 = PrivateSigningKey.Generate(JwsAlgorithm.ES384, 0);

        Assert.ThrowsAny<CryptographicException>(() => PrivateSigningKey.FromPkcs8(JwsAlgorithm.ES256, p384.ExportPkcs8()));
    }
}
