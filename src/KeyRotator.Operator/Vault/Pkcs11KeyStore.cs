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
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;
using ISession = Net.Pkcs11Interop.HighLevelAPI.ISession;

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
            var attributes = session.Factories.ObjectAttributeFactory;
            var common = new List<IObjectAttribute>
            {
                attributes.Create(CKA.CKA_TOKEN, true),
                attributes.Create(CKA.CKA_LABEL, label),
                attributes.Create(CKA.CKA_ID, id),
            };
            var publicKey = new List<IObjectAttribute>(common) { attributes.Create(CKA.CKA_VERIFY, true), attributes.Create(CKA.CKA_PRIVATE, false) };
            var privateKey = new List<IObjectAttribute>(common)
            {
                attributes.Create(CKA.CKA_SIGN, true),
                attributes.Create(CKA.CKA_PRIVATE, true),
                attributes.Create(CKA.CKA_SENSITIVE, true),
                attributes.Create(CKA.CKA_EXTRACTABLE, false),
            };
            IMechanism mechanism;
            var algorithm = set.Policy.Algorithm;
            if (algorithm.IsRsa)
            {
                mechanism = session.Factories.MechanismFactory.Create(CKM.CKM_RSA_PKCS_KEY_PAIR_GEN);
                publicKey.Add(attributes.Create(CKA.CKA_MODULUS_BITS, (ulong)set.Policy.RsaKeySize));
                publicKey.Add(attributes.Create(CKA.CKA_PUBLIC_EXPONENT, new byte[] { 1, 0, 1 }));
            }
            else
            {
                mechanism = session.Factories.MechanismFactory.Create(CKM.CKM_EC_KEY_PAIR_GEN);
                publicKey.Add(attributes.Create(CKA.CKA_EC_PARAMS, CurveOid(algorithm)));
            }

            session.GenerateKeyPair(mechanism, publicKey, privateKey, out _, out _);
            return FindKeys(session, set).Single(k => k.Stored.Generation == generation).Stored;
        }, cancellationToken);

    public Task<SignerMaterial> GetSignerMaterialAsync(KeySetContext set, StoredKey key, CancellationToken cancellationToken) =>
        Task.FromResult(new SignerMaterial(key.Kid, key.PublicJwk.Alg, null, key.VaultRef));

    public Task DisableAsync(KeySetContext set, string kid, CancellationToken cancellationToken) =>
        WithSessionAsync(set, session =>
        {
            foreach (var key in FindKeys(session, set).Where(k => k.Stored.Kid == kid && k.Stored.Enabled))
                session.SetAttributeValue(key.Private!, [session.Factories.ObjectAttributeFactory.Create(CKA.CKA_SIGN, false)]);
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
            var factory = session.Factories.MechanismFactory;
            return algorithm.Family switch
            {
                KeyFamily.Ec => session.Sign(factory.Create(CKM.CKM_ECDSA), key.Private!, algorithm.Digest(signingInput)),
                KeyFamily.RsaPkcs1 => session.Sign(factory.Create(RsaMechanism(algorithm, pss: false)), key.Private!, signingInput),
                _ => session.Sign(factory.Create(RsaMechanism(algorithm, pss: true), session.Factories.MechanismParamsFactory.CreateCkRsaPkcsPssParams(
                    (ulong)HashMechanism(algorithm), (ulong)Mgf(algorithm), (ulong)(algorithm.Hash.Name == "SHA256" ? 32 : algorithm.Hash.Name == "SHA384" ? 48 : 64))), key.Private!, signingInput),
            };
        }, cancellationToken);

    private async Task<T> WithSessionAsync<T>(KeySetContext set, Func<ISession, T> work, CancellationToken cancellationToken)
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
            throw new KeyStoreException(e.RV switch
            {
                CKR.CKR_PIN_INCORRECT or CKR.CKR_PIN_INVALID or CKR.CKR_PIN_LEN_RANGE =>
                    $"token \"{spec.TokenLabel}\" refused the PIN from Secret {set.Namespace}/{spec.PinSecretRef.Name} (key {spec.PinSecretRef.Key}): fix the PIN (a refused PIN is not presented again, by any set, until the operator restarts, so retries cannot lock the token)",
                CKR.CKR_PIN_LOCKED => $"token \"{spec.TokenLabel}\" has locked its user PIN: unlock it with the SO PIN",
                CKR.CKR_MECHANISM_INVALID or CKR.CKR_MECHANISM_PARAM_INVALID or CKR.CKR_DOMAIN_PARAMS_INVALID or CKR.CKR_TEMPLATE_INCONSISTENT =>
                    $"token \"{spec.TokenLabel}\" does not support {set.Policy.Algorithm} keys ({e.RV}); choose an algorithm it supports",
                _ => $"PKCS#11 {e.Method} failed with {e.RV}",
            })
            { Reason = e.RV is CKR.CKR_PIN_INCORRECT or CKR.CKR_PIN_INVALID or CKR.CKR_PIN_LOCKED ? "VaultAccessDenied" : "VaultError" };
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

    private static List<TokenKey> FindKeys(ISession session, KeySetContext set)
    {
        var prefix = $"kr:{set.Uid}:";
        var attributes = session.Factories.ObjectAttributeFactory;
        var publics = session.FindAllObjects([attributes.Create(CKA.CKA_CLASS, CKO.CKO_PUBLIC_KEY)]);
        var privates = session.FindAllObjects([attributes.Create(CKA.CKA_CLASS, CKO.CKO_PRIVATE_KEY)]);
        var privateByLabel = new Dictionary<string, IObjectHandle>(StringComparer.Ordinal);
        foreach (var handle in privates)
        {
            var label = session.GetAttributeValue(handle, [CKA.CKA_LABEL])[0].GetValueAsString();
            if (label?.StartsWith(prefix, StringComparison.Ordinal) == true)
                privateByLabel[label] = handle;
        }

        var keys = new List<TokenKey>();
        foreach (var handle in publics)
        {
            var label = session.GetAttributeValue(handle, [CKA.CKA_LABEL])[0].GetValueAsString();
            if (label?.StartsWith(prefix, StringComparison.Ordinal) != true)
                continue;
            var parts = label.Split(':');
            var generation = long.Parse(parts[2], CultureInfo.InvariantCulture);
            var created = DateTimeOffset.FromUnixTimeSeconds(long.Parse(parts[3], CultureInfo.InvariantCulture));
            var algorithm = parts.Length > 4 && JwsAlgorithm.TryParse(parts[4], out var made) ? made : set.Policy.Algorithm;
            var jwk = PublicJwk(session, handle, algorithm);
            privateByLabel.TryGetValue(label, out var privateKey);
            var enabled = privateKey is not null && session.GetAttributeValue(privateKey, [CKA.CKA_SIGN])[0].GetValueAsBool();
            var tokenLabel = set.Spec.Vault!.Pkcs11!.TokenLabel;
            var reference = $"pkcs11:token={Uri.EscapeDataString(tokenLabel)};object={Uri.EscapeDataString(label)};type=private";
            keys.Add(new TokenKey(new StoredKey(jwk, generation, created, reference, enabled), handle, privateKey));
        }

        return keys;
    }

    private static Jwk PublicJwk(ISession session, IObjectHandle handle, JwsAlgorithm algorithm)
    {
        if (algorithm.IsRsa)
        {
            var values = session.GetAttributeValue(handle, [CKA.CKA_MODULUS, CKA.CKA_PUBLIC_EXPONENT]);
            return Jwk.FromRsa(new RSAParameters { Modulus = values[0].GetValueAsByteArray(), Exponent = values[1].GetValueAsByteArray() }, algorithm);
        }

        // CKA_EC_POINT is a DER OCTET STRING around the uncompressed point 04 || X || Y.
        var point = AsnDecoder.ReadOctetString(session.GetAttributeValue(handle, [CKA.CKA_EC_POINT])[0].GetValueAsByteArray(), AsnEncodingRules.DER, out _);
        var size = algorithm.CoordinateLength;
        return Jwk.FromEc(new ECParameters { Curve = algorithm.EcCurve, Q = new ECPoint { X = point[1..(1 + size)], Y = point[(1 + size)..] } }, algorithm);
    }

    private static byte[] CurveOid(JwsAlgorithm algorithm)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.WriteObjectIdentifier(algorithm.EcCurve.Oid.Value!);
        return writer.Encode();
    }

    private static CKM RsaMechanism(JwsAlgorithm algorithm, bool pss) => (algorithm.Hash.Name, pss) switch
    {
        ("SHA256", false) => CKM.CKM_SHA256_RSA_PKCS,
        ("SHA384", false) => CKM.CKM_SHA384_RSA_PKCS,
        ("SHA512", false) => CKM.CKM_SHA512_RSA_PKCS,
        ("SHA256", true) => CKM.CKM_SHA256_RSA_PKCS_PSS,
        ("SHA384", true) => CKM.CKM_SHA384_RSA_PKCS_PSS,
        _ => CKM.CKM_SHA512_RSA_PKCS_PSS,
    };

    private static CKM HashMechanism(JwsAlgorithm algorithm) => algorithm.Hash.Name switch
    {
        "SHA256" => CKM.CKM_SHA256,
        "SHA384" => CKM.CKM_SHA384,
        _ => CKM.CKM_SHA512,
    };

    private static CKG Mgf(JwsAlgorithm algorithm) => algorithm.Hash.Name switch
    {
        "SHA256" => CKG.CKG_MGF1_SHA256,
        "SHA384" => CKG.CKG_MGF1_SHA384,
        _ => CKG.CKG_MGF1_SHA512,
    };

    private static void Destroy(ISession session, TokenKey key)
    {
        if (key.Private is not null)
            session.DestroyObject(key.Private);
        session.DestroyObject(key.Public);
    }

    /// <summary>Nothing of its own to release: sessions belong to the process-wide <see cref="Pkcs11Tokens"/>.</summary>
    public void Dispose()
    {
    }

    private sealed record TokenKey(StoredKey Stored, IObjectHandle Public, IObjectHandle? Private);
}
