using KeyRotator.Core.Keys;
using KeyRotator.Model.Jose;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Crd;

/// <summary>The leak scan that guards invariant 4 must be able to fail.</summary>
public sealed class SecretLeakScannerTests
{
    [Theory]
    [InlineData("ES256")]
    [InlineData("RS256")]
    public void Scanner_finds_a_planted_private_key_in_any_form(string algorithm)
    {
        var key = PrivateSigningKey.Generate(JwsAlgorithm.Parse(algorithm), 2048);
        var scanner = new SecretLeakScanner();
        scanner.LearnFromSecretValue($"{{\"kid\":\"{key.Kid}\",\"pkcs8\":\"{Convert.ToBase64String(key.ExportPkcs8())}\"}}");
        var body = key.ExportPkcs8Pem().Split('\n')[2];

        var findings = scanner.Find([
            ("clean log", $"Key {key.Kid} now signs"),
            ("pem in a log", "failed to parse " + key.ExportPkcs8Pem()),
            ("one line of the pem", "value: " + body),
        ]);

        Assert.DoesNotContain(findings, f => f.StartsWith("clean log", StringComparison.Ordinal));
        Assert.Contains(findings, f => f.StartsWith("pem in a log", StringComparison.Ordinal));
        Assert.Contains(findings, f => f.StartsWith("one line of the pem", StringComparison.Ordinal));
        Assert.Equal(1, scanner.KnownKeys);
    }
}
