using System.Security.Cryptography;
using System.Text.Json;
using KeyRotator.Model.Jose;
using KeyRotator.Operator.Vault.Azure;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Vault;

/// <summary>
/// Responses recorded from the real Azure Key Vault (../shared/fixtures/azure-keyvault) define what our
/// client must parse: every recorded key bundle parses, and the recorded ES256 signature verifies
/// through our JWS code against the recorded key.
/// </summary>
public sealed class AzureKeyVaultFixtureTests
{
    private static string Fixtures => Path.Combine(Repository.Root, "..", "shared", "fixtures", "azure-keyvault");

    public static TheoryData<string> Files() =>
        Directory.Exists(Fixtures) ? [.. Directory.GetFiles(Fixtures, "*.json").Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal)] : ["(no fixtures)"];

    [Theory]
    [MemberData(nameof(Files))]
    public void Every_recorded_key_bundle_parses_into_a_jwk_with_a_thumbprint_kid(string file)
    {
        Assert.SkipWhen(!Directory.Exists(Fixtures), $"the recorded fixtures are not beside the repository ({Fixtures})");
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures, file)));
        var parsed = 0;
        foreach (var exchange in document.RootElement.GetProperty("exchanges").EnumerateArray())
        {
            var response = exchange.GetProperty("response");
            if (!response.TryGetProperty("body", out var body) || body.ValueKind != JsonValueKind.Object)
                continue;
            if (body.TryGetProperty("error", out var error))
            {
                Assert.False(string.IsNullOrEmpty(error.GetProperty("code").GetString()));
                parsed++;
                continue;
            }

            if (!body.TryGetProperty("key", out var key))
                continue;
            var algorithm = key.GetProperty("kty").GetString()!.StartsWith("EC", StringComparison.Ordinal) ? JwsAlgorithm.ES256 : JwsAlgorithm.RS256;
            var bundle = KeyVaultKeyBundle.Parse(body, algorithm);
            Assert.Equal(bundle.PublicJwk.ComputeThumbprint(), bundle.PublicJwk.Kid);
            Assert.True(bundle.Enabled);
            Assert.Equal(32, bundle.Version.Length);
            parsed++;
        }

        Assert.True(parsed > 0, $"{file} held nothing to parse");
    }

    [Fact]
    public void Recorded_ES256_signature_verifies_against_the_recorded_key()
    {
        Assert.SkipWhen(!Directory.Exists(Fixtures), $"the recorded fixtures are not beside the repository ({Fixtures})");
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures, "sign-es256.json")));
        var exchanges = document.RootElement.GetProperty("exchanges").EnumerateArray().ToList();
        var bundle = KeyVaultKeyBundle.Parse(exchanges[0].GetProperty("response").GetProperty("body"), JwsAlgorithm.ES256);
        var sign = exchanges.Single(e => e.GetProperty("request").GetProperty("path").GetString()!.EndsWith("/sign", StringComparison.Ordinal));
        var digest = Base64Url.Decode(sign.GetProperty("request").GetProperty("body").GetProperty("value").GetString()!);
        var signature = Base64Url.Decode(sign.GetProperty("response").GetProperty("body").GetProperty("value").GetString()!);

        Assert.Equal(64, signature.Length);
        Assert.True(JwsVerifier.VerifyDigest(bundle.PublicJwk, digest, signature), "the vault's R||S signature verifies");
        var tampered = (byte[])signature.Clone();
        tampered[10] ^= 1;
        Assert.False(JwsVerifier.VerifyDigest(bundle.PublicJwk, digest, tampered));
        Assert.False(JwsVerifier.VerifyDigest(bundle.PublicJwk, SHA256.HashData("other"u8), signature));
    }
}
