using BenchmarkDotNet.Attributes;
using KeyRotator.Core.Keys;
using KeyRotator.Model.Jose;

namespace KeyRotator.Benchmarks;

/// <summary>Building and serializing the merged JWKS (what every reconcile that publishes does), and its content hash.</summary>
[MemoryDiagnoser]
public class JwksBenchmarks
{
    private JwksDocument _document = null!;

    [Params(1, 3, 10, 50)]
    public int Keys { get; set; }

    [GlobalSetup]
    public void Setup() =>
        _document = new JwksDocument([.. Enumerable.Range(0, Keys).Select(i => PrivateSigningKey.Generate(i % 2 == 0 ? JwsAlgorithm.ES256 : JwsAlgorithm.RS256, 2048).PublicJwk)]);

    [Benchmark]
    public string Serialize() => _document.ToJson();

    [Benchmark]
    public string ContentHash() => _document.ContentHash();

    [Benchmark]
    public JwksDocument Parse() => JwksDocument.Parse(_document.ToJson());
}
