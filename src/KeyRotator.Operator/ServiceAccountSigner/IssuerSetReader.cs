using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Configuration;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Publishing;
using KeyRotator.Operator.Runtime;
using KeyRotator.Operator.Vault;
using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.ServiceAccountSigner;

/// <summary>
/// Reads the issuer set (<see cref="ReadAsync"/>) as every signer of a set does: the JWKS ConfigMap the operator published for it
/// (what FetchKeys serves) and its signing Secret (which key signs: the private key for the Kubernetes
/// provider, the kid and a vault reference otherwise). Objects someone else wrote under those names
/// (not owned by the set's UID) are ignored: they could otherwise slip a key into the cluster's trust.
/// <see cref="Build"/> turns a reading (from the API server or the state file) into what the signer serves.
/// </summary>
public sealed class IssuerSetReader(IObjectClient client, IEnumerable<IKeyStore> stores, RotationPolicyOptions policyOptions, IOptions<OperatorOptions> options, TimeProvider time)
{
    /// <summary>The set as the API server has it now; null when it does not exist.</summary>
    public async Task<IssuerState?> ReadAsync(string ns, string name, CancellationToken cancellationToken)
    {
        var set = await client.ReadAsync<V1Alpha1SigningKeySet>(ns, name, cancellationToken);
        if (set is null)
            return null;

        var identity = SetIdentity.Of(set);
        var configMap = await client.ReadAsync<V1ConfigMap>(ns, JwksNames.ConfigMapName(set), cancellationToken);
        var jwks = configMap is not null && Ownership.IsOwnedBy(configMap.Metadata, identity) && configMap.Data?.TryGetValue(JwksNames.JwksKey, out var json) == true ? json : null;
        var secret = await client.ReadAsync<V1Secret>(ns, SigningSecretPublisher.SecretName(set), cancellationToken);
        var data = secret is not null && Ownership.IsOwnedBy(secret.Metadata, identity) ? secret.Data : null;
        var kubernetes = (set.Spec.Vault?.Provider ?? "Kubernetes") == "Kubernetes";
        return new IssuerState
        {
            Namespace = ns,
            Name = name,
            Uid = set.Metadata.Uid,
            Spec = set.Spec,
            Jwks = jwks,
            SigningKid = Text(data, SigningSecretPublisher.KidKey),
            SigningAlg = Text(data, SigningSecretPublisher.AlgKey),
            KeyReference = kubernetes ? null : Text(data, SigningSecretPublisher.KeyReferenceKey),
            // A vault's key never leaves it: nothing but its reference is kept, whatever the Secret holds.
            PrivateKeyPem = kubernetes ? Text(data, SigningSecretPublisher.PrivateKeyKey) : null,
            ReadAt = time.GetUtcNow(),
        };
    }

    /// <summary>What to serve from <paramref name="state"/> (null: the set does not exist), reusing what <paramref name="previous"/> already prepared.</summary>
    public IssuerSnapshot Build(string ns, string name, IssuerState? state, IssuerSnapshot? previous)
    {
        if (state is null)
            return new IssuerSnapshot { Serving = new IssuerServing { Refusal = $"SigningKeySet {ns}/{name} does not exist" }, ReadAt = time.GetUtcNow() };
        var published = state.Jwks is null ? null : JwksDocument.Parse(state.Jwks);
        var signingKid = state.SigningKid;
        var readAt = state.ReadAt;
        var serving = IssuerServing.Decide($"{ns}/{name}", state.Spec, published, signingKid);
        var snapshot = new IssuerSnapshot
        {
            Serving = serving,
            ReadAt = readAt,
            Keys = serving.Keys.Select(k => (k.Kid, previous?.Keys.FirstOrDefault(p => p.Kid == k.Kid).Der ?? ByteString.CopyFrom(k.ToSubjectPublicKeyInfo()))).ToList(),
        };
        if (serving.Refusal is not null || serving.SigningKey is not { } key)
            return snapshot;
        if (state.SigningAlg != key.Alg)
            return WithProblem(snapshot, $"the signing Secret of {ns}/{name} names algorithm {state.SigningAlg} for {key.Kid}, whose published key is {key.Alg}");

        // The same key as last time: keep its signing operation (no private key parsed on every poll).
        if (previous?.Serving.SigningKey?.Kid == key.Kid && previous.Signature is { } same)
            return WithSignature(snapshot, key, same);

        var provider = state.Provider;
        if (provider == "Kubernetes")
        {
            var pem = state.PrivateKeyPem;
            return pem is null
                ? WithProblem(snapshot, $"the signing Secret of {ns}/{name} holds no private key for {key.Kid}")
                : LocalSignature(snapshot, key, pem);
        }

        // As in the operator (VaultGrants): a module off the allow-list is never loaded into this process.
        if (provider == "Pkcs11" && !options.Value.Pkcs11.Libraries.Contains(state.Spec.Vault?.Pkcs11?.Library ?? "", StringComparer.Ordinal))
            return WithProblem(snapshot, $"spec.vault.pkcs11.library {state.Spec.Vault?.Pkcs11?.Library} is not on the signer's allow-list of PKCS#11 modules (KeyRotator:Pkcs11:Libraries)");
        if (stores.FirstOrDefault(s => s.Provider == provider) is not ISignsInVault vault)
            return WithProblem(snapshot, $"the {provider} vault cannot sign in this build of the signer");
        var context = new KeySetContext(ns, name, state.Uid, PolicyFor(state.Spec, key), state.Spec);
        return WithSignature(snapshot, key, (input, ct) => vault.SignAsync(context, key.Kid, input, ct));
    }

    private RotationPolicy PolicyFor(SigningKeySetSpec spec, Jwk key) =>
        SpecValidator.Validate(spec, policyOptions).Policy ?? new RotationPolicy
        {
            Algorithm = JwsAlgorithm.Parse(key.Alg),
            PrePublish = SpecValidator.DefaultPrePublish,
            Overlap = TimeSpan.Zero,
            MaxTokenLifetime = TimeSpan.Zero,
            ClockSkew = TimeSpan.Zero,
        };

    /// <summary>
    /// The Kubernetes provider's key, held in this process. It signs only if its public half is the
    /// published key of its kid: a Secret whose PEM and kid disagree would sign tokens nobody can verify.
    /// </summary>
    private static IssuerSnapshot LocalSignature(IssuerSnapshot snapshot, Jwk key, string pem)
    {
        var algorithm = JwsAlgorithm.Parse(key.Alg);
        AsymmetricAlgorithm loaded = algorithm.IsRsa ? RSA.Create() : ECDsa.Create();
        try
        {
            loaded.ImportFromPem(pem);
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            loaded.Dispose();
            return WithProblem(snapshot, $"the signing Secret's private key for {key.Kid} cannot be read as a {key.Alg} key");
        }

        if (!loaded.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ToSubjectPublicKeyInfo()))
        {
            loaded.Dispose();
            return WithProblem(snapshot, $"the signing Secret's private key is not the published key {key.Kid}");
        }

        // Instance members of RSA and ECDsa are not documented as thread-safe: one signature at a time per key.
        var gate = new Lock();
        Func<byte[], CancellationToken, Task<byte[]>> sign = loaded switch
        {
            RSA rsa => (input, _) =>
            {
                lock (gate)
                    return Task.FromResult(rsa.SignData(input, algorithm.Hash, RSASignaturePadding.Pkcs1));
            }
            ,
            ECDsa ec => (input, _) =>
            {
                lock (gate)
                    return Task.FromResult(ec.SignData(input, algorithm.Hash, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));
            }
            ,
            _ => throw new InvalidOperationException("unreachable"),
        };
        return WithSignature(snapshot, key, sign);
    }

    private static IssuerSnapshot WithSignature(IssuerSnapshot snapshot, Jwk key, Func<byte[], CancellationToken, Task<byte[]>> sign) => new()
    {
        Serving = snapshot.Serving,
        ReadAt = snapshot.ReadAt,
        Keys = snapshot.Keys,
        EncodedHeader = JwtHeader.Encode(key.Alg, key.Kid),
        Signature = sign,
    };

    private static IssuerSnapshot WithProblem(IssuerSnapshot snapshot, string problem) => new()
    {
        Serving = snapshot.Serving,
        ReadAt = snapshot.ReadAt,
        Keys = snapshot.Keys,
        SignProblem = problem,
    };

    private static string? Text(IDictionary<string, byte[]>? data, string key) =>
        data?.TryGetValue(key, out var value) == true ? Encoding.UTF8.GetString(value).Trim() : null;
}
