using System.Security.Claims;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace KeyRotator.Client;

/// <summary>
/// Signs in the vault that holds the key: given the signing Secret's key reference (an Azure Key Vault
/// key version URL, or a PKCS#11 URI), the JWS algorithm and the JWS signing input, returns the JWS
/// signature bytes (raw R||S for ES*). With Azure Key Vault this is CryptographyClient.SignDataAsync
/// for that key id; with an HSM, C_Sign on the object the URI names.
/// </summary>
public delegate Task<byte[]> VaultSign(string keyReference, string algorithm, byte[] signingInput, CancellationToken cancellationToken);

/// <summary>
/// Signs JWTs with the active key from the mounted signing Secret (files "kid", "alg", and
/// "private-key.pem" or, for keys that never leave a vault, "key-ref"). The files are re-read when the
/// kid changes, so a rotation needs no restart.
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
        return Encode(issuer, audience, lifetime, claims, Credentials());
    }

    /// <summary>The compact token with iss, aud, iat, nbf and exp; unsigned ("alg":"none") without credentials.</summary>
    private string Encode(string issuer, string audience, TimeSpan lifetime, IEnumerable<Claim> claims, SigningCredentials? credentials)
    {
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

    /// <summary>
    /// A token signed by the vault that holds the active key (Azure Key Vault, PKCS#11): the header
    /// carries the kid and alg from the signing Secret, <paramref name="sign"/> signs the JWS input with
    /// the Secret's key-ref. Falls back to the PEM when the Secret holds one.
    /// </summary>
    public async Task<string> CreateTokenAsync(string issuer, string audience, TimeSpan lifetime, IEnumerable<Claim> claims, VaultSign sign, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sign);
        var version = ResolveVersion();
        if (File.Exists(Path.Combine(version, "private-key.pem")))
            return CreateToken(issuer, audience, lifetime, claims);
        var kid = File.ReadAllText(Path.Combine(version, "kid")).Trim();
        var alg = File.ReadAllText(Path.Combine(version, "alg")).Trim();
        var keyRefPath = Path.Combine(version, "key-ref");
        if (!File.Exists(keyRefPath))
            throw new InvalidOperationException($"{directory} holds neither private-key.pem nor key-ref: is it a KeyRotator signing Secret with an active key?");
        if (!KeyRotatorTokenValidator.IsAsymmetric(alg))
            throw new InvalidOperationException($"{directory}/alg is \"{alg}\", not one of the asymmetric JWS algorithms");
        var keyRef = File.ReadAllText(keyRefPath).Trim();

        var payload = Encode(issuer, audience, lifetime, claims, credentials: null).Split('.')[1];
        var header = Base64UrlEncoder.Encode(Header(alg, kid));
        var input = $"{header}.{payload}";
        var signature = await sign(keyRef, alg, System.Text.Encoding.ASCII.GetBytes(input), cancellationToken);
        return $"{input}.{Base64UrlEncoder.Encode(signature)}";
    }

    /// <summary>
    /// The kid this signer signs with now (read from the mounted signing Secret), or null when it has
    /// none yet. Hand it to <see cref="FailureReporter.SigningKid"/> so that the operator knows when every
    /// signer has switched to a new key.
    /// </summary>
    public string? CurrentKid()
    {
        try
        {
            return File.ReadAllText(Path.Combine(ResolveVersion(), "kid")).Trim() is { Length: > 0 } kid ? kid : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
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

    /// <summary>The JOSE header of a vault-signed token, {"alg":…,"kid":…,"typ":"JWT"}, with the serializer's default escaping.</summary>
    private static byte[] Header(string alg, string kid)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("alg", alg);
            writer.WriteString("kid", kid);
            writer.WriteString("typ", "JWT");
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }
}
