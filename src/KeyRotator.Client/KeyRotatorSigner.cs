using System.Security.Claims;
using System.Security.Cryptography;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace KeyRotator.Client;

/// <summary>
/// Signs JWTs with the active key from the mounted signing Secret (files "kid", "alg",
/// "private-key.pem"). The files are re-read when the kid changes, so a rotation needs no restart.
/// Vault providers publish a key reference instead of a PEM: such keys sign inside their vault.
/// </summary>
public sealed class KeyRotatorSigner(string directory, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Lock _gate = new();
    private (string Kid, SigningCredentials Credentials)? _current;

    /// <summary>Signing credentials for a PKCS#8 PEM key, with the kid every token header must carry.</summary>
    public static SigningCredentials CredentialsFromPem(string pem, string kid, string alg)
    {
        SecurityKey key;
        if (alg.StartsWith("ES", StringComparison.Ordinal))
        {
            var ec = ECDsa.Create();
            ec.ImportFromPem(pem);
            key = new ECDsaSecurityKey(ec) { KeyId = kid };
        }
        else
        {
            var rsa = RSA.Create();
            rsa.ImportFromPem(pem);
            key = new RsaSecurityKey(rsa) { KeyId = kid };
        }

        return new SigningCredentials(key, alg) { CryptoProviderFactory = new CryptoProviderFactory { CacheSignatureProviders = false } };
    }

    private string ResolveVersion()
    {
        var data = new DirectoryInfo(Path.Combine(directory, "..data"));
        return data.LinkTarget is { } target ? Path.Combine(directory, target) : directory;
    }

    public string CreateToken(string issuer, string audience, TimeSpan lifetime, IEnumerable<Claim> claims)
    {
        var credentials = Credentials();
        var now = _time.GetUtcNow().UtcDateTime;
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = audience,
            IssuedAt = now,
            NotBefore = now,
            Expires = now + lifetime,
            Subject = new ClaimsIdentity(claims),
            SigningCredentials = credentials,
        });
    }

    private SigningCredentials Credentials()
    {
        // Read every file from one version of the volume: the kubelet swaps "..data" atomically, and a
        // kid read before a swap with a key read after it would sign tokens that never verify.
        var version = ResolveVersion();
        var kid = File.ReadAllText(Path.Combine(version, "kid")).Trim();
        lock (_gate)
        {
            if (_current is { } current && current.Kid == kid)
                return current.Credentials;

            var alg = File.ReadAllText(Path.Combine(version, "alg")).Trim();
            var pemPath = Path.Combine(version, "private-key.pem");
            if (!File.Exists(pemPath))
                throw new InvalidOperationException($"{directory} holds no private-key.pem: the set's keys live in a vault (see key-ref), sign there");
            var credentials = CredentialsFromPem(File.ReadAllText(pemPath), kid, alg);
            _current = (kid, credentials);
            return credentials;
        }
    }
}
