using System.Security.Cryptography;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Resources;

namespace KeyRotator.Core.Tests.Lifecycle;

/// <summary>What the service-account signer serves: never a key the API server was not given, never a revoked one.</summary>
public sealed class IssuerServingTests
{
    private static readonly Jwk Active = Key(JwsAlgorithm.ES256);
    private static readonly Jwk Pending = Key(JwsAlgorithm.ES256);

    private static SigningKeySetSpec Issuer() => new()
    {
        Algorithm = "ES256",
        Rotation = new RotationSpec { Interval = "720h", PrePublish = "15m", Overlap = "2h" },
        MaxTokenLifetime = "1h",
        ServiceAccountIssuer = true,
    };

    private static Jwk Key(JwsAlgorithm algorithm)
    {
        using var ec = ECDsa.Create(algorithm.EcCurve);
        return Jwk.FromEc(ec.ExportParameters(false), algorithm);
    }

    [Fact]
    public void An_issuer_set_serves_its_published_keys_and_signs_with_the_signing_Secrets_kid()
    {
        var serving = IssuerServing.Decide("kube-system/issuer", Issuer(), new JwksDocument([Active, Pending]), Active.Kid);

        Assert.Null(serving.Refusal);
        Assert.Null(serving.SignRefusal);
        Assert.Equal(Active, serving.SigningKey);
        Assert.Equal([Active.Kid, Pending.Kid], serving.Keys.Select(k => k.Kid));
        Assert.Equal(TimeSpan.FromHours(1), serving.MaxTokenLifetime);
        Assert.Equal(TimeSpan.FromMinutes(1), serving.RefreshHint);
    }

    [Fact]
    public void A_set_not_marked_as_the_issuer_serves_nothing_and_says_so()
    {
        var serving = IssuerServing.Decide("kube-system/issuer", Issuer() with { ServiceAccountIssuer = null }, new JwksDocument([Active]), Active.Kid);

        Assert.Contains("spec.serviceAccountIssuer: true", serving.Refusal, StringComparison.Ordinal);
        Assert.Empty(serving.Keys);
    }

    [Fact]
    public void A_lifetime_under_600_seconds_is_refused_as_the_API_server_would()
    {
        var serving = IssuerServing.Decide("kube-system/issuer", Issuer() with { MaxTokenLifetime = "599s" }, new JwksDocument([Active]), Active.Kid);

        Assert.Contains("max_token_expiration_seconds >= 600", serving.Refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void A_revoked_kid_leaves_at_once_even_while_the_published_JWKS_still_holds_it()
    {
        var serving = IssuerServing.Decide("kube-system/issuer", Issuer() with { RevokedKeyIds = [Active.Kid] }, new JwksDocument([Active, Pending]), Active.Kid);

        Assert.Equal([Pending.Kid], serving.Keys.Select(k => k.Kid));
        Assert.Null(serving.SigningKey);
        Assert.Contains("is revoked", serving.SignRefusal, StringComparison.Ordinal);
    }

    [Fact]
    public void A_signing_kid_that_is_not_published_never_signs()
    {
        var serving = IssuerServing.Decide("kube-system/issuer", Issuer(), new JwksDocument([Pending]), Active.Kid);

        Assert.Null(serving.SigningKey);
        Assert.Contains("is not in its published JWKS", serving.SignRefusal, StringComparison.Ordinal);
    }

    [Fact]
    public void Keys_of_algorithms_the_API_server_refuses_are_not_served()
    {
        using var rsa = RSA.Create(2048);
        var pss = Jwk.FromRsa(rsa.ExportParameters(false), JwsAlgorithm.PS256);

        var serving = IssuerServing.Decide("kube-system/issuer", Issuer(), new JwksDocument([Active, pss]), pss.Kid);

        Assert.Equal([Active.Kid], serving.Keys.Select(k => k.Kid));
        Assert.NotNull(serving.SignRefusal);
    }

    [Fact]
    public void An_invalid_spec_does_not_stop_the_clusters_signing()
    {
        var serving = IssuerServing.Decide("kube-system/issuer", Issuer() with { Rotation = Issuer().Rotation with { Overlap = "1m" } }, new JwksDocument([Active]), Active.Kid);

        Assert.Null(serving.Refusal);
        Assert.Equal(Active, serving.SigningKey);
    }
}
