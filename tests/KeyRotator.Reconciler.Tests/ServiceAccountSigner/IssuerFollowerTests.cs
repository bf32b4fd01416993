using System.Security.Cryptography;
using System.Text;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Configuration;
using KeyRotator.Operator.ServiceAccountSigner;
using KeyRotator.Operator.Vault;
using KeyRotator.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace KeyRotator.Reconciler.Tests.ServiceAccountSigner;

/// <summary>
/// The signer's reading of its set on the in-memory API: only what the operator wrote for the set counts
/// (another team's ConfigMap under the JWKS name adds no key to the cluster's trust), and a reading it cannot
/// parse leaves the last good one in place.
/// </summary>
public sealed class IssuerFollowerTests
{
    private const string Ns = "kube-system";
    private readonly InMemoryObjectClient _api = new();
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly V1Alpha1SigningKeySet _set;
    private readonly Jwk _jwk;

    public IssuerFollowerTests()
    {
        _set = _api.Seed(SigningKeySetBuilder.Named("cluster-issuer", Ns).WithSpec(s => s with { MaxTokenLifetime = "1h", ServiceAccountIssuer = true }).Build());
        _jwk = Jwk.FromEc(_key.ExportParameters(false), JwsAlgorithm.ES256);
        _api.Seed(new V1Secret
        {
            Metadata = Owned("cluster-issuer-signing"),
            Data = new Dictionary<string, byte[]>
            {
                ["kid"] = Encoding.UTF8.GetBytes(_jwk.Kid),
                ["alg"] = "ES256"u8.ToArray(),
                ["private-key.pem"] = Encoding.UTF8.GetBytes(_key.ExportPkcs8PrivateKeyPem()),
            },
        });
    }

    private V1ObjectMeta Owned(string name) => new()
    {
        Name = name,
        NamespaceProperty = Ns,
        Labels = new Dictionary<string, string> { [Labels.ManagedBy] = Labels.ManagedByValue },
        OwnerReferences = [new V1OwnerReference { ApiVersion = "keyrotator.io/v1alpha1", Kind = "SigningKeySet", Name = "cluster-issuer", Uid = _set.Metadata.Uid }],
    };

    private IssuerFollower Follower()
    {
        var options = Options.Create(new OperatorOptions());
        var reader = new IssuerSetReader(_api, Array.Empty<IKeyStore>(), new RotationPolicyOptions(), options, TimeProvider.System);
        return new IssuerFollower(reader, new SignerOptions { Socket = "/unused", Namespace = Ns, Name = "cluster-issuer" }, TimeProvider.System, NullLogger<IssuerFollower>.Instance);
    }

    [Fact]
    public async Task Another_teams_ConfigMap_under_the_JWKS_name_adds_no_key_and_signs_nothing()
    {
        using var attacker = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        _api.Seed(new V1ConfigMap
        {
            Metadata = new V1ObjectMeta { Name = "cluster-issuer-jwks", NamespaceProperty = Ns, Labels = new Dictionary<string, string> { [Labels.ManagedBy] = Labels.ManagedByValue } },
            Data = new Dictionary<string, string> { [JwksNames.JwksKey] = new JwksDocument([_jwk, Jwk.FromEc(attacker.ExportParameters(false), JwsAlgorithm.ES256)]).ToJson() },
        });
        var follower = Follower();

        Assert.True(await follower.RefreshAsync(TestContext.Current.CancellationToken));

        Assert.Empty(follower.Current!.Keys);
        Assert.Null(follower.Current.Signature);
    }

    [Fact]
    public async Task A_JWKS_the_signer_cannot_parse_leaves_the_last_good_reading_signing()
    {
        _api.Seed(new V1ConfigMap { Metadata = Owned("cluster-issuer-jwks"), Data = new Dictionary<string, string> { [JwksNames.JwksKey] = new JwksDocument([_jwk]).ToJson() } });
        var follower = Follower();
        Assert.True(await follower.RefreshAsync(TestContext.Current.CancellationToken));
        Assert.Equal([_jwk.Kid], follower.Current!.Keys.Select(k => k.Kid));

        _api.Seed(new V1ConfigMap { Metadata = Owned("cluster-issuer-jwks"), Data = new Dictionary<string, string> { [JwksNames.JwksKey] = "{\"keys\":[{\"kty\":" } });

        Assert.False(await follower.RefreshAsync(TestContext.Current.CancellationToken));
        Assert.Equal([_jwk.Kid], follower.Current!.Keys.Select(k => k.Kid));
        var signature = await follower.Current.Signature!("a.b"u8.ToArray(), TestContext.Current.CancellationToken);
        Assert.True(JwsVerifier.Verify(_jwk, "a.b"u8, signature));
    }
}
