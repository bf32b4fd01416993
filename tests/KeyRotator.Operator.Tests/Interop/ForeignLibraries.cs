using System.Text.Json;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Interop;

/// <summary>
/// Runs JWT libraries that share no code with KeyRotator over what it produced (tests/interop):
/// panva/jose on Node.js and PyJWT on Debian's Python. Each verifies tokens against a published JWKS
/// as a hardened service would (one pinned algorithm, iss/aud/exp/nbf/iat required), computes the
/// RFC 7638 thumbprints (jose only), and signs a token of its own with a signing Secret's PEM.
/// </summary>
internal static class ForeignLibraries
{
    public const string Issuer = "https://issuer.example";
    public const string Audience = "api";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>One JWKS, the tokens to verify against it, and optionally a signing Secret's key to sign with.</summary>
    public sealed record Case(string Name, string Alg, string Jwks, IReadOnlyList<string> Tokens, string? Kid = null, string? Pem = null);

    public sealed record Report(string Library, IReadOnlyList<Result> Results)
    {
        public Result this[string name] => Results.Single(r => r.Name == name);
    }

    public sealed record Result(string Name, IReadOnlyList<Verdict> Verdicts, IReadOnlyList<KidThumbprint>? Thumbprints, string? Signed);

    public sealed record Verdict(bool Valid, string? Kid, string? Error);

    public sealed record KidThumbprint(string Kid, string Thumbprint);

    /// <summary>panva/jose, from tests/interop/node_modules (hack/test.sh runs npm ci there).</summary>
    public static Task<Report> JoseAsync(IEnumerable<Case> cases)
    {
        var folder = Path.Combine(Repository.Root, "tests", "interop");
        Assert.True(Directory.Exists(Path.Combine(folder, "node_modules", "jose")),
            "panva/jose is not installed: run `npm ci --prefix tests/interop` (hack/test.sh does)");
        return RunAsync("node", Path.Combine(folder, "jose-check.mjs"), cases);
    }

    /// <summary>PyJWT, Debian's python3-jwt, with Debian's interpreter (.ci/run installs the package).</summary>
    public static Task<Report> PyJwtAsync(IEnumerable<Case> cases)
    {
        const string python = "/usr/bin/python3";
        Assert.True(File.Exists(python), $"{python} is missing: apt-get install python3 python3-jwt");
        return RunAsync(python, Path.Combine(Repository.Root, "tests", "interop", "pyjwt_check.py"), cases);
    }

    private static async Task<Report> RunAsync(string program, string script, IEnumerable<Case> cases)
    {
        var folder = Directory.CreateTempSubdirectory("keyrotator-interop-").FullName;
        try
        {
            var input = Path.Combine(folder, "cases.json");
            var output = Path.Combine(folder, "results.json");
            await File.WriteAllTextAsync(input, JsonSerializer.Serialize(new { issuer = Issuer, audience = Audience, cases }, Json));
            var (code, printed) = await Repository.RunAsync(program, script, input, output);
            Assert.True(code == 0 && File.Exists(output), $"{Path.GetFileName(script)} exited with {code}: {printed}");
            return JsonSerializer.Deserialize<Report>(await File.ReadAllTextAsync(output), Json)!;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
