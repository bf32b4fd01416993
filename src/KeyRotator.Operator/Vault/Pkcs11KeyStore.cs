using System.Collections.Concurrent;
using System.Formats.Asn1;
using System.Globalization;
using System.Net;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using k8s;
using k8s.Autorest;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Operator.Runtime;
using KeyRotator.Operator.Vault.Pkcs11;

namespace KeyRotator.Operator.Vault;

/// <summary>
/// Keys generated on a PKCS#11 token (an HSM; SoftHSM2 in tests) as sensitive, non-extractable
/// objects. Each key pair carries CKA_LABEL "kr:&lt;set uid&gt;:&lt;generation&gt;:&lt;created unix s&gt;:&lt;alg&gt;" and
/// a CKA_ID derived from the set and generation, so a key made before a crash is found and adopted,
/// and every key is read, published and used with the algorithm it was made for, whatever the spec
/// says now (keys made before the label held the algorithm fall back to the spec's).
/// Signers get a PKCS#11 URI, never the key.
/// </summary>
public sealed class Pkcs11KeyStore(IObjectClient client, TimeProvider time) : IKeyStore, ISignsInVault, IDisposable
{
    public string Provider => "Pkcs11";

    public Task<IReadOnlyList<StoredKey>> ListAsync(KeySetContext set, CancellationToken cancellationToken) =>
        WithSessionAsync(set, session => (IReadOnlyList<StoredKey>)FindKeys(session, set).Select(k => k.Stored).ToList(), cancellationToken);

    public Task<StoredKey> CreateAsync(KeySetContext set, long generation, CancellationToken cancellationToken) =>
        WithSessionAsync(set, session =>
        {
            var existing = FindKeys(session, set).FirstOrDefault(k => k.Stored.Generation == generation);
            if (existing is not null)
                return existing.Stored;

            var label = $"kr:{set.Uid}:{generation.ToString(CultureInfo.InvariantCulture)}:{time.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)}:{set.Policy.Algorithm.Name}";
            var id = SHA256.HashData(Encoding.UTF8.GetBytes($"{set.Uid}:{generation}"))[..20];
            var common = new List<Pkcs11Attribute>
            {
                Pkcs11Attribute.Bool(Cryptoki.Attribute.Token, true),
                Pkcs11Attribute.Text(Cryptoki.Attribute.Label, label),
                Pkcs11Attribute.Bytes(Cryptoki.Attribute.Id, id),
            };
            var publicKey = new List<Pkcs11Attribute>(common) { Pkcs11Attribute.Bool(Cryptoki.Attribute.Verify, true), Pkcs11Attribute.Bool(Cryptoki.Attribute.Private, false) };
            var privateKey = new List<Pkcs11Attribute>(common)
            {
                Pkcs11Attribute.Bool(Cryptoki.Attribute.Sign, true),
                Pkcs11Attribute.Bool(Cryptoki.Attribute.Private, true),
                Pkcs11Attribute.Bool(Cryptoki.Attribute.Sensitive, true),
                Pkcs11Attribute.Bool(Cryptoki.Attribute.Extractable, false),
            };
            Pkcs11Mechanism mechanism;
            var algorithm = set.Policy.Algorithm;
            if (algorithm.IsRsa)
            {
                mechanism = new Pkcs11Mechanism(Cryptoki.Mechanism.RsaPkcsKeyPairGen);
                publicKey.Add(Pkcs11Attribute.Number(Cryptoki.Attribute.ModulusBits, (nuint)set.Policy.RsaKeySize));
                publicKey.Add(Pkcs11Attribute.Bytes(Cryptoki.Attribute.PublicExponent, [1, 0, 1]));
            }
            else
            {
                mechanism = new Pkcs11Mechanism(Cryptoki.Mechanism.EcKeyPairGen);
                publicKey.Add(Pkcs11Attribute.Bytes(Cryptoki.Attribute.EcParams, CurveOid(algorithm)));
            }

            session.GenerateKeyPair(mechanism, publicKey, privateKey);
            return FindKeys(session, set).Single(k => k.Stored.Generation == generation).Stored;
        }, cancellationToken);

    public Task<SignerMaterial> GetSignerMaterialAsync(KeySetContext set, StoredKey key, CancellationToken cancellationToken) =>
        Task.FromResult(new SignerMaterial(key.Kid, key.PublicJwk.Alg, null, key.VaultRef));

    public Task DisableAsync(KeySetContext set, string kid, CancellationToken cancellationToken) =>
        WithSessionAsync(set, session =>
        {
            foreach (var key in FindKeys(session, set).Where(k => k.Stored.Kid == kid && k.Stored.Enabled))
                session.SetAttributeValues(key.Private!.Value, [Pkcs11Attribute.Bool(Cryptoki.Attribute.Sign, false)]);
            return true;
        }, cancellationToken);

    public Task DeleteAsync(KeySetContext set, string kid, CancellationToken cancellationToken) =>
        WithSessionAsync(set, session =>
        {
            foreach (var key in FindKeys(session, set).Where(k => k.Stored.Kid == kid))
                Destroy(session, key);
            return true;
        }, cancellationToken);

    public Task RemoveSetAsync(KeySetContext set, bool deleteKeys, CancellationToken cancellationToken) =>
        !deleteKeys ? Task.CompletedTask : WithSessionAsync(set, session =>
        {
            foreach (var key in FindKeys(session, set))
                Destroy(session, key);
            return true;
        }, cancellationToken);

    /// <summary>Signs with the token's key (C_Sign); the JWS signature (raw R||S for ES*).</summary>
    public Task<byte[]> SignAsync(KeySetContext set, string kid, byte[] signingInput, CancellationToken cancellationToken) =>
        WithSessionAsync(set, session =>
        {
            var key = FindKeys(session, set).FirstOrDefault(k => k.Stored.Kid == kid && k.Stored.Enabled)
                ?? throw new KeyStoreException($"the token holds no enabled key {kid}") { Reason = Reasons.KeyMissing };
            var algorithm = JwsAlgorithm.Parse(key.Stored.PublicJwk.Alg);
            var privateKey = key.Private!.Value;
            return algorithm.Family switch
            {
                KeyFamily.Ec => session.Sign(new Pkcs11Mechanism(Cryptoki.Mechanism.Ecdsa), privateKey, algorithm.Digest(signingInput)),
                KeyFamily.RsaPkcs1 => session.Sign(new Pkcs11Mechanism(RsaMechanism(algorithm, pss: false)), privateKey, signingInput),
                _ => session.Sign(Pkcs11Mechanism.RsaPss(RsaMechanism(algorithm, pss: true), HashMechanism(algorithm), Mgf(algorithm),
                    (nuint)(algorithm.Hash.Name == "SHA256" ? 32 : algorithm.Hash.Name == "SHA384" ? 48 : 64)), privateKey, signingInput),
            };
        }, cancellationToken);

    private async Task<T> WithSessionAsync<T>(KeySetContext set, Func<Pkcs11Session, T> work, CancellationToken cancellationToken)
    {
        var spec = set.Spec.Vault?.Pkcs11 ?? throw new KeyStoreException("spec.vault.pkcs11 is missing") { Reason = Reasons.InvalidSpec };
        var pin = await ReadPinAsync(set, cancellationToken);
        try
        {
            var library = Pkcs11Tokens.Load(spec.Library);
            var pool = Pkcs11Tokens.PoolFor(spec.Library, spec.TokenLabel);
            var session = pool.Acquire(library, spec.TokenLabel, pin, set.Namespace, time.GetUtcNow())
                ?? throw new KeyStoreException($"no token labelled \"{spec.TokenLabel}\" is present in {spec.Library}") { Reason = "VaultUnavailable" };
            return pool.Use(session, work);
        }
        catch (PinBudgetExhaustedException)
        {
            throw new KeyStoreException($"token \"{spec.TokenLabel}\" refused {Pkcs11Tokens.TokenSessionPool.RefusalsPerNamespace} PINs from namespace {set.Namespace} within "
                + $"{Pkcs11Tokens.TokenSessionPool.RefusalWindow.TotalMinutes:0} minutes; no new PIN from it is presented until that window passes, so that wrong PINs cannot lock the token "
                + $"for every namespace granted it: put the right PIN in Secret {set.Namespace}/{spec.PinSecretRef.Name} (key {spec.PinSecretRef.Key})")
            { Reason = "VaultAccessDenied" };
        }
        catch (Pkcs11Exception e)
        {
            throw new KeyStoreException(e.ReturnValue switch
            {
                CryptokiResult.CKR_PIN_INCORRECT or CryptokiResult.CKR_PIN_INVALID or CryptokiResult.CKR_PIN_LEN_RANGE =>
                    $"token \"{spec.TokenLabel}\" refused the PIN from Secret {set.Namespace}/{spec.PinSecretRef.Name} (key {spec.PinSecretRef.Key}): fix the PIN (a refused PIN is not presented again, by any set, until the operator restarts, so retries cannot lock the token)",
                CryptokiResult.CKR_PIN_LOCKED => $"token \"{spec.TokenLabel}\" has locked its user PIN: unlock it with the SO PIN",
                CryptokiResult.CKR_MECHANISM_INVALID or CryptokiResult.CKR_MECHANISM_PARAM_INVALID or CryptokiResult.CKR_DOMAIN_PARAMS_INVALID or CryptokiResult.CKR_TEMPLATE_INCONSISTENT =>
                    $"token \"{spec.TokenLabel}\" does not support {set.Policy.Algorithm} keys ({e.ReturnValue}); choose an algorithm it supports",
                _ => $"PKCS#11 {e.Method} failed with {e.ReturnValue}",
            })
            { Reason = e.ReturnValue is CryptokiResult.CKR_PIN_INCORRECT or CryptokiResult.CKR_PIN_INVALID or CryptokiResult.CKR_PIN_LOCKED ? "VaultAccessDenied" : "VaultError" };
        }
    }

    private async Task<string> ReadPinAsync(KeySetContext set, CancellationToken cancellationToken)
    {
        var reference = set.Spec.Vault!.Pkcs11!.PinSecretRef;
        var secret = await client.ReadAsync<V1Secret>(set.Namespace, reference.Name, cancellationToken)
            ?? throw new KeyStoreException($"the PIN Secret {set.Namespace}/{reference.Name} does not exist") { Reason = "PinSecretMissing" };
        return secret.Data?.TryGetValue(reference.Key, out var pin) == true
            ? Encoding.UTF8.GetString(pin).TrimEnd('\n', '\r')
            : throw new KeyStoreException($"Secret {set.Namespace}/{reference.Name} has no key \"{reference.Key}\" holding the PIN") { Reason = "VaultAccessDenied" };
    }

    private static List<TokenKey> FindKeys(Pkcs11Session session, KeySetContext set)
    {
        var prefix = $"kr:{set.Uid}:";
        var publics = session.FindObjects([Pkcs11Attribute.Number(Cryptoki.Attribute.Class, Cryptoki.ObjectClass.PublicKey)]);
        var privates = session.FindObjects([Pkcs11Attribute.Number(Cryptoki.Attribute.Class, Cryptoki.ObjectClass.PrivateKey)]);
        var privateByLabel = new Dictionary<string, nuint>(StringComparer.Ordinal);
        foreach (var handle in privates)
        {
            var label = Text(session.GetAttributeValues(handle, Cryptoki.Attribute.Label)[0]);
            if (label?.StartsWith(prefix, StringComparison.Ordinal) == true)
                privateByLabel[label] = handle;
        }

        var keys = new List<TokenKey>();
        foreach (var handle in publics)
        {
            var label = Text(session.GetAttributeValues(handle, Cryptoki.Attribute.Label)[0]);
            if (label?.StartsWith(prefix, StringComparison.Ordinal) != true)
                continue;
            var parts = label.Split(':');
            var generation = long.Parse(parts[2], CultureInfo.InvariantCulture);
            var created = DateTimeOffset.FromUnixTimeSeconds(long.Parse(parts[3], CultureInfo.InvariantCulture));
            var algorithm = parts.Length > 4 && JwsAlgorithm.TryParse(parts[4], out var made) ? made : set.Policy.Algorithm;
            var jwk = PublicJwk(session, handle, algorithm);
            nuint? privateKey = privateByLabel.TryGetValue(label, out var found) ? found : null;
            var enabled = privateKey is { } signer && session.GetAttributeValues(signer, Cryptoki.Attribute.Sign)[0] is [not 0];
            var tokenLabel = set.Spec.Vault!.Pkcs11!.TokenLabel;
            var reference = $"pkcs11:token={Uri.EscapeDataString(tokenLabel)};object={Uri.EscapeDataString(label)};type=private";
            keys.Add(new TokenKey(new StoredKey(jwk, generation, created, reference, enabled), handle, privateKey));
        }

        return keys;
    }

    private static Jwk PublicJwk(Pkcs11Session session, nuint handle, JwsAlgorithm algorithm)
    {
        if (algorithm.IsRsa)
        {
            var values = session.GetAttributeValues(handle, Cryptoki.Attribute.Modulus, Cryptoki.Attribute.PublicExponent);
            return Jwk.FromRsa(new RSAParameters { Modulus = Required(values[0], "CKA_MODULUS"), Exponent = Required(values[1], "CKA_PUBLIC_EXPONENT") }, algorithm);
        }

        // CKA_EC_POINT is a DER OCTET STRING around the uncompressed point 04 || X || Y.
        var point = AsnDecoder.ReadOctetString(Required(session.GetAttributeValues(handle, Cryptoki.Attribute.EcPoint)[0], "CKA_EC_POINT"), AsnEncodingRules.DER, out _);
        var size = algorithm.CoordinateLength;
        return Jwk.FromEc(new ECParameters { Curve = algorithm.EcCurve, Q = new ECPoint { X = point[1..(1 + size)], Y = point[(1 + size)..] } }, algorithm);
    }

    private static byte[] CurveOid(JwsAlgorithm algorithm)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.WriteObjectIdentifier(algorithm.EcCurve.Oid.Value!);
        return writer.Encode();
    }

    private static nuint RsaMechanism(JwsAlgorithm algorithm, bool pss) => (algorithm.Hash.Name, pss) switch
    {
        ("SHA256", false) => Cryptoki.Mechanism.Sha256RsaPkcs,
        ("SHA384", false) => Cryptoki.Mechanism.Sha384RsaPkcs,
        ("SHA512", false) => Cryptoki.Mechanism.Sha512RsaPkcs,
        ("SHA256", true) => Cryptoki.Mechanism.Sha256RsaPkcsPss,
        ("SHA384", true) => Cryptoki.Mechanism.Sha384RsaPkcsPss,
        _ => Cryptoki.Mechanism.Sha512RsaPkcsPss,
    };

    private static nuint HashMechanism(JwsAlgorithm algorithm) => algorithm.Hash.Name switch
    {
        "SHA256" => Cryptoki.Mechanism.Sha256,
        "SHA384" => Cryptoki.Mechanism.Sha384,
        _ => Cryptoki.Mechanism.Sha512,
    };

    private static nuint Mgf(JwsAlgorithm algorithm) => algorithm.Hash.Name switch
    {
        "SHA256" => Cryptoki.Mgf.Mgf1Sha256,
        "SHA384" => Cryptoki.Mgf.Mgf1Sha384,
        _ => Cryptoki.Mgf.Mgf1Sha512,
    };

    private static string? Text(byte[]? value) => value is null ? null : Encoding.UTF8.GetString(value);

    private static byte[] Required(byte[]? value, string attribute) =>
        value ?? throw new KeyStoreException($"the token does not reveal {attribute} of a public key") { Reason = "VaultError" };

    private static void Destroy(Pkcs11Session session, TokenKey key)
    {
        if (key.Private is { } privateKey)
            session.DestroyObject(privateKey);
        session.DestroyObject(key.Public);
    }

    /// <summary>Nothing of its own to release: sessions belong to the process-wide <see cref="Pkcs11Tokens"/>.</summary>
    public void Dispose()
    {
    }

    private sealed record TokenKey(StoredKey Stored, nuint Public, nuint? Private);
}
