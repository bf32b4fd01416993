using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Resources;

namespace KeyRotator.Core.Tests.Lifecycle;

/// <summary>A set marked as the cluster's service-account issuer is held to what kube-apiserver accepts from an external signer.</summary>
public sealed class ServiceAccountIssuerRulesTests
{
    private static readonly RotationPolicyOptions Options = new();

    private static SigningKeySetSpec Issuer() => new()
    {
        Algorithm = "ES256",
        Rotation = new RotationSpec { Interval = "720h", PrePublish = "15m", Overlap = "2h" },
        MaxTokenLifetime = "1h",
        ClockSkew = "1m",
        ServiceAccountIssuer = true,
    };

    [Theory]
    [InlineData("RS256")]
    [InlineData("ES256")]
    [InlineData("ES384")]
    [InlineData("ES512")]
    public void An_issuer_set_with_an_algorithm_the_API_server_accepts_is_valid(string algorithm)
    {
        var result = SpecValidator.Validate(Issuer() with { Algorithm = algorithm }, Options);

        Assert.True(result.IsValid, result.Message);
    }

    public static TheoryData<string, SigningKeySetSpec, string> Refused => new()
    {
        { "PS256, which kube-apiserver refuses", Issuer() with { Algorithm = "PS256" }, "spec.serviceAccountIssuer: spec.algorithm PS256 is not accepted by the Kubernetes API server for service-account tokens; use one of RS256, ES256, ES384, ES512" },
        { "RS384", Issuer() with { Algorithm = "RS384" }, "spec.algorithm RS384 is not accepted by the Kubernetes API server" },
        { "a token lifetime under 600 s", Issuer() with { MaxTokenLifetime = "9m" }, "spec.serviceAccountIssuer: spec.maxTokenLifetime 9m is below the 10m the Kubernetes API server requires" },
        { "an overlap shorter than lifetime + skew", Issuer() with { Rotation = Issuer().Rotation with { Overlap = "1h" } }, "spec.rotation.overlap 1h is shorter than maxTokenLifetime + clockSkew" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void An_issuer_set_the_API_server_could_not_use_is_refused_naming_the_rule(string description, SigningKeySetSpec spec, string expected)
    {
        var result = SpecValidator.Validate(spec, Options);

        Assert.False(result.IsValid, description);
        Assert.Contains(expected, result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_same_spec_without_the_issuer_mark_is_valid()
    {
        var result = SpecValidator.Validate(Issuer() with { Algorithm = "PS256", MaxTokenLifetime = "5m", ServiceAccountIssuer = null }, Options);

        Assert.True(result.IsValid, result.Message);
    }

    [Theory]
    [InlineData("15m", 60)]
    [InlineData("5m", 30)]
    [InlineData("2m", 12)]
    [InlineData("5s", 1)]
    public void The_refresh_hint_is_positive_and_well_inside_prePublish(string prePublish, int seconds)
    {
        var hint = ServiceAccountIssuerRules.RefreshHint(KeyRotator.Model.Time.GoDuration.Parse(prePublish));

        Assert.Equal(TimeSpan.FromSeconds(seconds), hint);
    }
}
