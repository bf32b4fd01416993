using System.Security.Claims;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace KeyRotator.Client.Tests;

/// <summary>Tokens signed by a vault through the signing Secret's key-ref (the vault here is an in-process key).</summary>
public sealed class VaultSignerTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("keyrotator-signer-");
    private readonly ECDsa _vaultKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public void Dispose()
    {
        _vaultKey.Dispose();
        _directory.Delete(recursive: true);
    }

    private void Write(string name, string value) => File.WriteAllText(Path.Combine(_directory.FullName, name), value);

    [Fact]
    public async Task The_header_carries_the_secrets_kid_and_alg_and_the_vault_signature_verifies()
    {
        Write("kid", "kid-1");
        Write("alg", "ES256");
        Write("key-ref", "https://contoso.vault.azure.net/keys/jwt/0123");
        string? askedRef = null;
        VaultSign sign = (keyRef, alg, input, _) =>
        {
            askedRef = keyRef;
            Assert.Equal("ES256", alg);
            return Task.FromResult(_vaultKey.SignData(input, HashAlgorithmName.SHA256));
        };

        var token = await new KeyRotatorSigner(_directory.FullName).CreateTokenAsync("https://issuer", "api", TimeSpan.FromMinutes(5), [new Claim("sub", "alice")], sign, TestContext.Current.CancellationToken);

        Assert.Equal("https://contoso.vault.azure.net/keys/jwt/0123", askedRef);
        var key = new ECDsaSecurityKey(_vaultKey) { KeyId = "kid-1" };
        var result = await new JsonWebTokenHandler().ValidateTokenAsync(token, new TokenValidationParameters
        {
            ValidIssuer = "https://issuer",
            ValidAudience = "api",
            IssuerSigningKey = key,
            ValidAlgorithms = ["ES256"],
        });
        Assert.True(result.IsValid, result.Exception?.Message);
        using var header = JsonDocument.Parse(Base64UrlEncoder.Decode(token.Split('.')[0]));
        Assert.Equal("kid-1", header.RootElement.GetProperty("kid").GetString());
        Assert.Equal("ES256", header.RootElement.GetProperty("alg").GetString());
    }

    [Fact]
    public async Task A_Secret_without_a_key_or_with_a_symmetric_alg_is_a_clear_error_and_nothing_is_signed()
    {
        var signed = 0;
        VaultSign sign = (_, _, _, _) =>
        {
            signed++;
            return Task.FromResult(Array.Empty<byte>());
        };
        var signer = new KeyRotatorSigner(_directory.FullName);
        Write("kid", "kid-1");
        Write("alg", "ES256");

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => signer.CreateTokenAsync("i", "a", TimeSpan.FromMinutes(1), [], sign, TestContext.Current.CancellationToken));
        Assert.Contains("neither private-key.pem nor key-ref", error.Message, StringComparison.Ordinal);

        Write("alg", "HS256");
        Write("key-ref", "pkcs11:token=t;object=o;type=private");
        error = await Assert.ThrowsAsync<InvalidOperationException>(() => signer.CreateTokenAsync("i", "a", TimeSpan.FromMinutes(1), [], sign, TestContext.Current.CancellationToken));
        Assert.Contains("\"HS256\", not one of the asymmetric JWS algorithms", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, signed);
    }
}
