using System.Text;
using BenchmarkDotNet.Attributes;
using KeyRotator.Client;
using KeyRotator.Core.Keys;
using KeyRotator.Model.Jose;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace KeyRotator.Benchmarks;

/// <summary>
/// Validating one token with KeyRotator.Client (the hardening checklist, against the mounted JWKS)
/// next to Microsoft.IdentityModel's JsonWebTokenHandler with the same key, issuer, audience and
/// lifetime checks (the baseline: the ratio column is KeyRotator's time over the handler's).
/// </summary>
[MemoryDiagnoser]
public class ValidationBenchmarks
{
    private const string Issuer = "https://issuer.example";
    private const string Audience = "api";

    private string _directory = null!;
    private JwksFileSource _source = null!;
    private KeyRotatorTokenValidator _validator = null!;
    private JsonWebTokenHandler _handler = null!;
    private TokenValidationParameters _parameters = null!;
    private string _token = null!;

    [Params("ES256", "RS256")]
    public string Alg { get; set; } = "ES256";

    [GlobalSetup]
    public void Setup()
    {
        var algorithm = JwsAlgorithm.Parse(Alg);
        var key = PrivateSigningKey.Generate(algorithm, 2048);
        var jwksJson = new JwksDocument([key.PublicJwk]).ToJson();
        _directory = Directory.CreateTempSubdirectory("keyrotator-bench-").FullName;
        var path = Path.Combine(_directory, "jwks.json");
        File.WriteAllText(path, jwksJson);

        var now = DateTimeOffset.UtcNow;
        var header = Base64Url.Encode(Encoding.UTF8.GetBytes($$"""{"alg":"{{Alg}}","kid":"{{key.Kid}}","typ":"JWT"}"""));
        var payload = Base64Url.Encode(Encoding.UTF8.GetBytes($$"""{"iss":"{{Issuer}}","aud":"{{Audience}}","sub":"user-1","iat":{{now.ToUnixTimeSeconds()}},"exp":{{now.AddMinutes(10).ToUnixTimeSeconds()}}}"""));
        _token = $"{header}.{payload}.{Base64Url.Encode(key.Sign(Encoding.ASCII.GetBytes($"{header}.{payload}")))}";

        var options = new KeyRotatorValidationOptions { JwksPath = path, Heartbeat = false };
        options.ValidIssuers.Add(Issuer);
        options.ValidAudiences.Add(Audience);
        _source = new JwksFileSource(path);
        _validator = new KeyRotatorTokenValidator(_source, options);

        _handler = new JsonWebTokenHandler { MapInboundClaims = false };
        _parameters = new TokenValidationParameters
        {
            IssuerSigningKey = new JsonWebKeySet(jwksJson).Keys[0],
            ValidIssuer = Issuer,
            ValidAudience = Audience,
            ValidAlgorithms = [Alg],
            ClockSkew = TimeSpan.FromSeconds(30),
        };
        if (!_validator.ValidateAsync(_token).GetAwaiter().GetResult().IsValid || !_handler.ValidateTokenAsync(_token, _parameters).GetAwaiter().GetResult().IsValid)
            throw new InvalidOperationException("the benchmark token does not validate");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _source.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Benchmark(Baseline = true)]
    public async Task<bool> JsonWebTokenHandler() => (await _handler.ValidateTokenAsync(_token, _parameters)).IsValid;

    [Benchmark]
    public async Task<bool> KeyRotatorClient() => (await _validator.ValidateAsync(_token)).IsValid;
}
