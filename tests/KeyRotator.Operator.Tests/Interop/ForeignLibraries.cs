using System.Diagnostics;
using System.Text;
using System.Text.Json;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Interop;

/// <summary>
/// Runs JWT libraries that share no code with KeyRotator over what it produced (tests/interop):
/// panva/jose on Node.js, PyJWT on Debian's Python and go-jose v2 in Go. Each verifies tokens against a published JWKS
/// as a hardened service would (one pinned algorithm, iss/aud/exp/nbf/iat required), computes the
/// RFC 7638 thumbprints (jose and go-jose), and signs a token of its own with a signing Secret's PEM.
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
        return RunAsync("node", [Path.Combine(folder, "jose-check.mjs")], cases);
    }

    /// <summary>PyJWT, Debian's python3-jwt, with Debian's interpreter (.ci/run installs the package).</summary>
    public static Task<Report> PyJwtAsync(IEnumerable<Case> cases)
    {
        const string python = "/usr/bin/python3";
        Assert.True(File.Exists(python), $"{python} is missing: apt-get install python3 python3-jwt");
        return RunAsync(python, [Path.Combine(Repository.Root, "tests", "interop", "pyjwt_check.py")], cases);
    }

    /// <summary>
    /// go-jose v2, the JOSE library Kubernetes itself uses, from Debian's packaged sources
    /// (golang-gopkg-square-go-jose.v2-dev, which .ci/run installs with Go), built once per test run.
    /// </summary>
    public static async Task<Report> GoJoseAsync(IEnumerable<Case> cases) =>
        await RunAsync(await GoJoseBinary.Value, [], cases);

    /// <summary>The three libraries' reports on the same cases: jose, PyJWT, go-jose.</summary>
    public static async Task<Report[]> AllAsync(IReadOnlyList<Case> cases) =>
        [await JoseAsync(cases), await PyJwtAsync(cases), await GoJoseAsync(cases)];

    private const string GoPath = "/usr/share/gocode";

    private static readonly Lazy<Task<string>> GoJoseBinary = new(async () =>
    {
        var go = File.Exists("/usr/lib/go-1.19/bin/go") ? "/usr/lib/go-1.19/bin/go" : "go";
        Assert.True(Directory.Exists(Path.Combine(GoPath, "src", "gopkg.in", "square", "go-jose.v2")),
            "go-jose v2 is not installed: apt-get install golang-1.19-go golang-gopkg-square-go-jose.v2-dev (.ci/run does)");
        var output = Path.Combine(Directory.CreateTempSubdirectory("keyrotator-gojose-").FullName, "gojose-check");
        var environment = new Dictionary<string, string>
        {
            ["GOPATH"] = GoPath,
            ["GO111MODULE"] = "off",
            ["GOFLAGS"] = "",
            ["GOCACHE"] = Path.Combine(Path.GetTempPath(), "keyrotator-go-build"),
        };
        var (code, printed) = await Repository.RunAsync(go, environment, "build", "-o", output, "./tests/interop/gojose");
        Assert.True(code == 0, $"building tests/interop/gojose failed: {printed}");
        return output;
    });

    /// <summary>
    /// A long-running verifier of another library that fetches the JWKS over HTTP itself and caches it
    /// for <c>cacheAge</c>, as docs/consumers.md configures it: jose's createRemoteJWKSet or PyJWT's PyJWKClient.
    /// </summary>
    public sealed class RemoteVerifier : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _errors = new();

        private RemoteVerifier(string library, string program, IEnumerable<string> arguments)
        {
            Library = library;
            var info = new ProcessStartInfo(program) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Repository.Root };
            foreach (var argument in arguments)
                info.ArgumentList.Add(argument);
            _process = Process.Start(info)!;
            _process.ErrorDataReceived += (_, e) =>
            {
                lock (_errors)
                    _errors.AppendLine(e.Data);
            };
            _process.BeginErrorReadLine();
        }

        public string Library { get; }

        public static RemoteVerifier Jose(Uri jwksUri, string alg, TimeSpan cacheAge)
        {
            var folder = Path.Combine(Repository.Root, "tests", "interop");
            Assert.True(Directory.Exists(Path.Combine(folder, "node_modules", "jose")),
                "panva/jose is not installed: run `npm ci --prefix tests/interop` (hack/test.sh does)");
            return new("jose createRemoteJWKSet", "node",
                [Path.Combine(folder, "jose-remote.mjs"), jwksUri.ToString(), alg, Issuer, Audience, ((long)cacheAge.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }

        public static RemoteVerifier PyJwt(Uri jwksUri, string alg, TimeSpan cacheAge)
        {
            Assert.True(File.Exists("/usr/bin/python3"), "/usr/bin/python3 is missing: apt-get install python3 python3-jwt");
            return new("PyJWT PyJWKClient", "/usr/bin/python3",
                [Path.Combine(Repository.Root, "tests", "interop", "pyjwt_remote.py"), jwksUri.ToString(), alg, Issuer, Audience, cacheAge.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }

        public async Task<Verdict> VerifyAsync(string token, CancellationToken cancellationToken)
        {
            await _process.StandardInput.WriteLineAsync(token.AsMemory(), cancellationToken);
            await _process.StandardInput.FlushAsync(cancellationToken);
            var line = await _process.StandardOutput.ReadLineAsync(cancellationToken);
            if (line is null)
            {
                lock (_errors)
                    throw new InvalidOperationException($"{Library} exited: {_errors}");
            }

            return JsonSerializer.Deserialize<Verdict>(line, Json)!;
        }

        public async ValueTask DisposeAsync()
        {
            _process.StandardInput.Close();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }

            _process.Dispose();
        }
    }

    private static async Task<Report> RunAsync(string program, string[] arguments, IEnumerable<Case> cases)
    {
        var folder = Directory.CreateTempSubdirectory("keyrotator-interop-").FullName;
        try
        {
            var input = Path.Combine(folder, "cases.json");
            var output = Path.Combine(folder, "results.json");
            await File.WriteAllTextAsync(input, JsonSerializer.Serialize(new { issuer = Issuer, audience = Audience, cases }, Json));
            var (code, printed) = await Repository.RunAsync(program, [.. arguments, input, output]);
            Assert.True(code == 0 && File.Exists(output), $"{Path.GetFileName(arguments.FirstOrDefault() ?? program)} exited with {code}: {printed}");
            return JsonSerializer.Deserialize<Report>(await File.ReadAllTextAsync(output), Json)!;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
