using System.Text.Json;
using KeyRotator.Model.Jose;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Reconcile;

public sealed class AlgorithmTests(KubernetesEnvironment env)
{
    public static TheoryData<string, int?> Algorithms => new()
    {
        { "RS256", 2048 }, { "RS384", 3072 }, { "RS512", 4096 },
        { "PS256", 2048 }, { "PS384", null }, { "PS512", 2048 },
        { "ES256", null }, { "ES384", null }, { "ES512", null },
    };

    [Theory]
    [MemberData(nameof(Algorithms))]
    public async Task Published_jwks_is_valid_and_verifies_a_token_signed_with_the_active_key(string algorithm, int? rsaKeySize)
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync($"alg-{algorithm}", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("tokens", ns)
            .WithAlgorithm(algorithm, rsaKeySize)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .Build(), ct);

        var set = await scenario.WaitForActiveKeyAsync("tokens", TimeSpan.FromSeconds(60));
        var json = (await scenario.JwksJsonAsync("tokens-jwks"))!;
        var (kid, pem, alg) = await scenario.SigningAsync("tokens-signing");

        using var document = JsonDocument.Parse(json);
        var jwk = Assert.Single(document.RootElement.GetProperty("keys").EnumerateArray());
        var members = jwk.EnumerateObject().Select(p => p.Name).ToHashSet();
        var expectedMembers = algorithm.StartsWith("ES", StringComparison.Ordinal)
            ? new[] { "kty", "kid", "use", "alg", "crv", "x", "y" }
            : ["kty", "kid", "use", "alg", "n", "e"];
        Assert.Equal(expectedMembers.ToHashSet(), members);
        Assert.Equal("sig", jwk.GetProperty("use").GetString());
        Assert.Equal(algorithm, jwk.GetProperty("alg").GetString());
        Assert.Equal(algorithm, alg);
        Assert.Equal(set.Status!.ActiveKeyId, kid);

        var parsed = Jwk.Parse(jwk);
        Assert.Equal(parsed.ComputeThumbprint(), parsed.Kid);
        foreach (var value in jwk.EnumerateObject().Where(p => p.Name is "n" or "e" or "x" or "y").Select(p => p.Value.GetString()!))
            Assert.DoesNotMatch("[=+/]", value);
        if (parsed.Kty == "EC")
        {
            var size = JwsAlgorithm.Parse(algorithm).CoordinateLength;
            Assert.Equal(size, Base64Url.Decode(parsed.X!).Length);
            Assert.Equal(size, Base64Url.Decode(parsed.Y!).Length);
        }
        else
        {
            var modulus = Base64Url.Decode(parsed.N!);
            Assert.NotEqual(0, modulus[0]);
            Assert.Equal((rsaKeySize ?? 3072) / 8, modulus.Length);
        }

        var now = DateTime.UtcNow;
        var token = TokenSigner.Sign(pem!, kid!, alg!, "https://issuer.example", "api", now, TimeSpan.FromMinutes(5));
        var result = await TokenSigner.VerifyAsync(token, json, algorithm, "https://issuer.example", "api", now);
        Assert.True(result.IsValid, result.Exception?.Message);
    }
}
