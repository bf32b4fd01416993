using KeyRotator.Core.Keys;
using KeyRotator.Model.Jose;
using Microsoft.Extensions.Time.Testing;

namespace KeyRotator.Client.Tests;

/// <summary>One token per hardening rule, breaking exactly that rule and nothing else.</summary>
public sealed class HardeningRuleTests : IDisposable
{
    private static readonly string[] UnknownExtension = ["exp-ext"];
    private static readonly string[] RegisteredHeader = ["kid"];
    private readonly TokenFactory _tokens = new();
    private readonly string _directory = Directory.CreateTempSubdirectory("jwks-").FullName;
    private readonly JwksFileSource _jwks;
    private readonly KeyRotatorTokenValidator _validator;
    private readonly RecordingSink _sink = new();

    public HardeningRuleTests()
    {
        var path = Path.Combine(_directory, "jwks.json");
        File.WriteAllText(path, _tokens.Jwks());
        _jwks = new JwksFileSource(path);
        var options = new KeyRotatorValidationOptions { JwksPath = path, ClockSkew = TimeSpan.FromSeconds(30), MaxTokenLifetime = TimeSpan.FromMinutes(15) };
        options.ValidIssuers.Add(TokenFactory.Issuer);
        options.ValidAudiences.Add(TokenFactory.Audience);
        _validator = new KeyRotatorTokenValidator(_jwks, options, new FakeTimeProvider(new DateTimeOffset(TokenFactory.Now).AddSeconds(10)), new ClientMetrics(), _sink);
    }

    [Fact]
    public async Task A_token_that_keeps_every_rule_is_accepted()
    {
        var result = await _validator.ValidateAsync(_tokens.Token());

        Assert.True(result.IsValid, result.Message);
        Assert.Equal(_tokens.Key.Kid, result.Kid);
        Assert.Equal("user-1", result.Identity!.Name);
        Assert.Empty(_sink.Recorded);
    }

    [Theory]
    [InlineData("RS256")]
    [InlineData("PS256")]
    [InlineData("ES384")]
    [InlineData("RS512")]
    public async Task A_token_signed_with_any_published_algorithm_verifies_and_a_flipped_bit_does_not(string alg)
    {
        var tokens = new TokenFactory(alg);
        var path = Path.Combine(_directory, $"jwks-{alg}.json");
        File.WriteAllText(path, tokens.Jwks());
        using var jwks = new JwksFileSource(path);
        var options = new KeyRotatorValidationOptions { JwksPath = path, ClockSkew = TimeSpan.FromSeconds(30), MaxTokenLifetime = TimeSpan.FromMinutes(15) };
        options.ValidIssuers.Add(TokenFactory.Issuer);
        options.ValidAudiences.Add(TokenFactory.Audience);
        var validator = new KeyRotatorTokenValidator(jwks, options, new FakeTimeProvider(new DateTimeOffset(TokenFactory.Now).AddSeconds(10)));

        var good = await validator.ValidateAsync(tokens.Token());
        var bad = await validator.ValidateAsync(tokens.Token(signature: s => { s[^1] ^= 0x01; return s; }));

        Assert.True(good.IsValid, good.Message);
        Assert.False(bad.IsValid);
        Assert.Equal(FailureReason.BadSignature, bad.Reason);
    }

    public static TheoryData<string, FailureReason> BrokenRules => new()
    {
        { "alg none", FailureReason.AlgRejected },
        { "HS256 signed with the public key as secret", FailureReason.AlgRejected },
        { "missing alg", FailureReason.AlgRejected },
        { "alg not published", FailureReason.AlgRejected },
        { "missing kid", FailureReason.UnknownKid },
        { "unknown kid", FailureReason.UnknownKid },
        { "bad signature", FailureReason.BadSignature },
        { "tampered payload", FailureReason.BadSignature },
        { "empty signature", FailureReason.BadSignature },
        { "signature not base64url", FailureReason.BadSignature },
        { "truncated signature", FailureReason.BadSignature },
        { "wrong issuer", FailureReason.Issuer },
        { "missing issuer", FailureReason.Issuer },
        { "wrong audience", FailureReason.Audience },
        { "missing audience", FailureReason.Audience },
        { "expired", FailureReason.Expired },
        { "not yet valid (nbf)", FailureReason.NotYetValid },
        { "issued in the future (iat)", FailureReason.NotYetValid },
        { "missing exp", FailureReason.Lifetime },
        { "no iat or nbf", FailureReason.Lifetime },
        { "lifetime over the maximum", FailureReason.Lifetime },
        { "not a JWS", FailureReason.Malformed },
        { "crit extension not understood", FailureReason.Malformed },
        { "crit naming a registered header", FailureReason.Malformed },
        { "larger than 250 KB", FailureReason.Malformed },
    };

    [Theory]
    [MemberData(nameof(BrokenRules))]
    public async Task A_token_breaking_one_rule_is_rejected_with_that_reason(string rule, FailureReason expected)
    {
        var token = Break(rule);

        var result = await _validator.ValidateAsync(token);

        Assert.False(result.IsValid, $"{rule} was accepted");
        Assert.Equal(expected, result.Reason);
        Assert.Equal(expected, Assert.Single(_sink.Recorded).Reason);
    }

    private string Break(string rule)
    {
        var issued = new DateTimeOffset(TokenFactory.Now).ToUnixTimeSeconds();
        return rule switch
        {
            "alg none" => string.Join('.', _tokens.Token(h => h["alg"] = "none").Split('.')[..2]) + ".",
            "HS256 signed with the public key as secret" => _tokens.Hs256WithPublicKeyAsSecret(),
            "missing alg" => _tokens.Token(h => h.Remove("alg")),
            "alg not published" => _tokens.Token(h => h["alg"] = "RS256"),
            "missing kid" => _tokens.Token(h => h.Remove("kid")),
            "unknown kid" => _tokens.Token(h => h["kid"] = PrivateSigningKey.Generate(JwsAlgorithm.ES256, 0).Kid),
            "bad signature" => _tokens.Token(signature: s => { s[5] ^= 0xFF; return s; }),
            "tampered payload" => Tamper(_tokens.Token()),
            "empty signature" => _tokens.Token()[..(_tokens.Token().LastIndexOf('.') + 1)],
            "signature not base64url" => _tokens.Token()[..(_tokens.Token().LastIndexOf('.') + 1)] + "!!not*base64url!!",
            "truncated signature" => _tokens.Token(signature: s => s[..^1]),
            "wrong issuer" => _tokens.Token(payload: p => p["iss"] = "https://evil.example.com"),
            "missing issuer" => _tokens.Token(payload: p => p.Remove("iss")),
            "wrong audience" => _tokens.Token(payload: p => p["aud"] = "orders"),
            "missing audience" => _tokens.Token(payload: p => p.Remove("aud")),
            "expired" => _tokens.Token(payload: p => { p["iat"] = issued - 700; p["nbf"] = issued - 700; p["exp"] = issued - 100; }),
            "not yet valid (nbf)" => _tokens.Token(payload: p => { p["nbf"] = issued + 120; p["exp"] = issued + 300; }),
            "issued in the future (iat)" => _tokens.Token(payload: p => { p.Remove("nbf"); p["iat"] = issued + 120; }),
            "missing exp" => _tokens.Token(payload: p => p.Remove("exp")),
            "no iat or nbf" => _tokens.Token(payload: p => { p.Remove("iat"); p.Remove("nbf"); }),
            "lifetime over the maximum" => _tokens.Token(payload: p => p["exp"] = issued + 3600),
            "crit extension not understood" => _tokens.Token(h => { h["crit"] = UnknownExtension; h["exp-ext"] = true; }),
            "crit naming a registered header" => _tokens.Token(h => h["crit"] = RegisteredHeader),
            "larger than 250 KB" => _tokens.Token(payload: p => p["padding"] = new string('a', KeyRotatorTokenValidator.MaximumTokenSizeInBytes)),
            _ => "this is not a token",
        };
    }

    /// <summary>Swaps the payload for another one (sub: admin) while keeping the original signature.</summary>
    private string Tamper(string token)
    {
        var other = _tokens.Token(payload: p => p["sub"] = "admin").Split('.');
        var parts = token.Split('.');
        return $"{parts[0]}.{other[1]}.{parts[2]}";
    }

    public void Dispose()
    {
        _jwks.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private sealed class RecordingSink : IFailureSink
    {
        public List<(FailureReason Reason, string? Kid)> Recorded { get; } = [];

        public void Record(FailureReason reason, string? kid) => Recorded.Add((reason, kid));
    }
}
