using BenchmarkDotNet.Attributes;
using KeyRotator.Core.Keys;
using KeyRotator.Model.Jose;

namespace KeyRotator.Benchmarks;

/// <summary>The RFC 7638 thumbprint that names every key (its kid).</summary>
[MemoryDiagnoser]
public class ThumbprintBenchmarks
{
    private Jwk _ec = null!;
    private Jwk _rsa = null!;

    [GlobalSetup]
    public void Setup()
    {
        _ec = PrivateSigningKey.Generate(JwsAlgorithm.ES256, 0).PublicJwk;
        _rsa = PrivateSigningKey.Generate(JwsAlgorithm.RS256, 2048).PublicJwk;
    }

    [Benchmark]
    public string Ec() => _ec.ComputeThumbprint();

    [Benchmark]
    public string Rsa2048() => _rsa.ComputeThumbprint();
}
