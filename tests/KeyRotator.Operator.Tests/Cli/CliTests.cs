// Longer than 300 lines: one short test per command, sharing the runner and its cluster set-up.
using System.Text;
using System.Text.Json;
using KeyRotator.Cli;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Cli;

/// <summary>Every keyrotator command against the real API server, as an on-call engineer would type it.</summary>
public sealed class CliTests(KubernetesEnvironment env)
{
    private async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var kubeconfig = env.ControlPlane?.AdminKubeconfigPath ?? Environment.GetEnvironmentVariable(KubernetesEnvironment.ExternalKubeconfigVariable)!;
        var code = await new CliApp(stdout, stderr).RunAsync([.. args, "--kubeconfig", kubeconfig]);
        env.TrackOutput($"keyrotator {string.Join(' ', args)}", $"{stdout}\n{stderr}");
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task Status_rotate_revoke_and_jwks_work_on_a_live_set()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("cli", ct);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        var scenario = new OperatorScenario(env, ns);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        var set = await scenario.WaitForActiveKeyAsync("auth");
        var active = set.Status!.ActiveKeyId!;

        var (code, table, _) = await RunAsync("status", "-n", ns);
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("ACTIVE KID", table, StringComparison.Ordinal);
        Assert.Contains($"{active[..12]}…=Active", table, StringComparison.Ordinal);
        Assert.Contains("True", table, StringComparison.Ordinal);

        var (_, json, _) = await RunAsync("status", "-A", "-o", "json");
        using (var rows = JsonDocument.Parse(json))
            Assert.Contains(rows.RootElement.EnumerateArray(), r => r.GetProperty("namespace").GetString() == ns && r.GetProperty("activeKid").GetString() == active);

        var (jwksCode, jwks, _) = await RunAsync("jwks", "auth", "-n", ns);
        Assert.Equal(ExitCodes.Ok, jwksCode);
        Assert.Equal(await scenario.JwksJsonAsync("auth-jwks"), jwks);

        (code, _, _) = await RunAsync("rotate", "auth", "-n", ns);
        Assert.Equal(ExitCodes.Ok, code);
        var rotated = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.ActiveKeyId is { } k && k != active, TimeSpan.FromSeconds(15), "the requested rotation", ct);
        Assert.NotNull(rotated.Metadata.Annotations[Labels.RotateNowAnnotation]);

        var newActive = rotated.Status!.ActiveKeyId!;
        var (revokeCode, revokeOut, _) = await RunAsync("revoke", "auth", newActive, "-n", ns);
        Assert.Equal(ExitCodes.Ok, revokeCode);
        Assert.Contains("forced rotation", revokeOut, StringComparison.Ordinal);
        await Eventually.HoldsAsync(() => scenario.JwksAsync("auth-jwks"), j => j!.Keys.All(k => k.Kid != newActive), TimeSpan.FromSeconds(5), "the revoked key unpublished", ct);
    }

    [Fact]
    public async Task Errors_say_what_is_wrong_with_meaningful_exit_codes()
    {
        var ns = await env.CreateNamespaceAsync("cli-errors", TestContext.Current.CancellationToken);
        var (code, _, err) = await RunAsync("jwks", "missing", "-n", ns);
        Assert.Equal(ExitCodes.NotFound, code);
        Assert.Contains($"there is no SigningKeySet missing in namespace {ns}", err, StringComparison.Ordinal);
        (code, _, err) = await RunAsync("rotate", "missing", "-n", ns);
        Assert.Equal(ExitCodes.NotFound, code);
        Assert.Contains($"there is no SigningKeySet missing in namespace {ns}", err, StringComparison.Ordinal);

        await new OperatorScenario(env, ns).Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns).Build(), TestContext.Current.CancellationToken);
        (code, _, err) = await RunAsync("revoke", "auth", "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", "-n", ns);
        Assert.Equal(ExitCodes.NotFound, code);
        Assert.Contains("--force", err, StringComparison.Ordinal);

        (code, _, err) = await RunAsync("frobnicate");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("unknown command", err, StringComparison.Ordinal);

        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        code = await new CliApp(stdout, stderr).RunAsync(["status", "--kubeconfig", "/nonexistent/kubeconfig"]);
        Assert.Equal(ExitCodes.Error, code);
        Assert.Contains("no kubeconfig found at /nonexistent/kubeconfig", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_CLI_depends_on_the_shared_model_only_not_on_the_operators_ASP_NET_Azure_PKCS11_or_Quartz()
    {
        var deps = Repository.BuildOutput("KeyRotator.Cli", "keyrotator.deps.json");
        using var json = JsonDocument.Parse(File.ReadAllText(deps));
        var libraries = json.RootElement.GetProperty("libraries").EnumerateObject().Select(l => l.Name).ToList();
        Assert.Contains(libraries, l => l.StartsWith("KeyRotator.Model/", StringComparison.Ordinal));
        foreach (var forbidden in new[] { "KeyRotator.Operator", "KeyRotator.Core/", "Microsoft.AspNetCore", "Azure.", "Pkcs11Interop", "Quartz", "prometheus-net" })
            Assert.DoesNotContain(libraries, l => l.StartsWith(forbidden, StringComparison.OrdinalIgnoreCase));
        var runtimeConfig = File.ReadAllText(Path.ChangeExtension(deps, null).Replace(".deps", ".runtimeconfig.json", StringComparison.Ordinal));
        Assert.DoesNotContain("Microsoft.AspNetCore.App", runtimeConfig, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Kubectl_runs_the_CLI_as_its_keyrotator_plugin()
    {
        var ct = TestContext.Current.CancellationToken;
        var plane = env.ControlPlane;
        Assert.SkipWhen(plane is null, "needs the envtest control plane (its kubectl and admin kubeconfig)");
        var ns = await env.CreateNamespaceAsync("cli-plugin", ct);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        var scenario = new OperatorScenario(env, ns);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        var active = (await scenario.WaitForActiveKeyAsync("auth")).Status!.ActiveKeyId!;

        // What docs/cli.md's install step does: an executable named kubectl-keyrotator on PATH.
        var cli = Repository.BuildOutput("KeyRotator.Cli", "keyrotator.dll");
        Assert.True(File.Exists(cli), $"the CLI is not built at {cli}");
        var bin = Directory.CreateTempSubdirectory("kubectl-plugins-").FullName;
        var plugin = Path.Combine(bin, "kubectl-keyrotator");
        await File.WriteAllTextAsync(plugin, $"#!/bin/sh\nexec dotnet \"{cli}\" \"$@\"\n", ct);
        Assert.SkipUnless(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "kubectl plugins are executables on PATH; this test makes a shell script one");
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
            File.SetUnixFileMode(plugin, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var info = new System.Diagnostics.ProcessStartInfo(Repository.Kubectl) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "keyrotator", "status", "-n", ns, "--kubeconfig", plane.AdminKubeconfigPath })
            info.ArgumentList.Add(argument);
        info.Environment["PATH"] = $"{bin}:{Environment.GetEnvironmentVariable("PATH")}";
        using var process = System.Diagnostics.Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);

        Assert.True(process.ExitCode == 0, await stderr);
        Assert.Contains($"{active[..12]}…=Active", await stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_namespace_defaults_to_the_kubeconfig_contexts_as_with_kubectl()
    {
        var ct = TestContext.Current.CancellationToken;
        var plane = env.ControlPlane;
        Assert.SkipWhen(plane is null, "needs the envtest control plane (its admin token)");
        var ns = await env.CreateNamespaceAsync("cli-context", ct);
        var scenario = new OperatorScenario(env, ns);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        var kubeconfig = Path.Combine(Directory.CreateTempSubdirectory("cli-context-").FullName, "kubeconfig");
        await File.WriteAllTextAsync(kubeconfig, string.Join('\n',
            "apiVersion: v1", "kind: Config",
            "clusters:", "- name: c", "  cluster:", $"    server: \"{plane.Server}\"", "    insecure-skip-tls-verify: true",
            "users:", "- name: u", "  user:", $"    token: \"{plane.AdminToken}\"",
            "contexts:", "- name: x", $"  context: {{ cluster: c, user: u, namespace: {ns} }}",
            "current-context: x", ""), ct);

        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await new CliApp(stdout, stderr).RunAsync(["status", "-o", "json", "--kubeconfig", kubeconfig]);

        Assert.Equal(ExitCodes.Ok, code);
        using var rows = JsonDocument.Parse(stdout.ToString());
        Assert.Equal(ns, Assert.Single(rows.RootElement.EnumerateArray()).GetProperty("namespace").GetString());
    }

    /// <summary>Every error is one line that says what is wrong and what to do, with the documented exit code; never a stack trace.</summary>
    public static TheoryData<string, int, string> Errors => new()
    {
        { "JWKS file that is not JSON", ExitCodes.Usage, "is not a usable JWKS" },
        { "JWKS file with a key without kid", ExitCodes.Usage, "every key needs kty, kid and alg" },
        { "kubeconfig /dev/null", ExitCodes.Error, "is empty or not a kubeconfig" },
        { "empty kubeconfig file", ExitCodes.Error, "is empty or not a kubeconfig" },
        { "missing kubeconfig", ExitCodes.Error, "no kubeconfig found" },
        { "unreachable API server", ExitCodes.Error, "cannot reach the API server" },
        { "403 from the API server", ExitCodes.Error, "answered 403 Forbidden: your user may not do this" },
        { "unknown flag", ExitCodes.Usage, "unknown flag --bogus" },
        { "missing argument", ExitCodes.Usage, "usage: keyrotator revoke NAME KID" },
        { "flag without its value", ExitCodes.Usage, "-n needs a value" },
        { "unknown output format", ExitCodes.Usage, "-o: Argument 'yaml' not recognized. Must be one of: 'json' 'table'" },
        { "extra argument", ExitCodes.Usage, "unexpected argument \"b\"; usage: keyrotator rotate NAME" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public async Task Each_error_is_one_clear_line_with_its_exit_code_and_never_a_stack_trace(string error, int exitCode, string message)
    {
        var ct = TestContext.Current.CancellationToken;
        var dir = Directory.CreateTempSubdirectory("cli-errors-").FullName;
        var token = $"{Base64Url.Encode("{\"alg\":\"ES256\",\"kid\":\"k\"}"u8.ToArray())}.{Base64Url.Encode("{\"sub\":\"x\"}"u8.ToArray())}.c2ln";
        string File(string name, string content)
        {
            var path = Path.Combine(dir, name);
            System.IO.File.WriteAllText(path, content);
            return path;
        }

        string Kubeconfig(string server, string userToken) => File("kubeconfig", string.Join('\n',
            "apiVersion: v1",
            "kind: Config",
            "clusters:",
            "- name: c",
            "  cluster:",
            $"    server: \"{server}\"",
            "    insecure-skip-tls-verify: true",
            "users:",
            "- name: u",
            "  user:",
            $"    token: \"{userToken}\"",
            "contexts:",
            "- name: x",
            "  context: { cluster: c, user: u, namespace: default }",
            "current-context: x",
            ""));

        string[] args = error switch
        {
            "JWKS file that is not JSON" => ["inspect", token, "--jwks", File("bad.json", "{bad")],
            "JWKS file with a key without kid" => ["inspect", token, "--jwks", File("nokid.json", """{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]}""")],
            "kubeconfig /dev/null" => ["status", "--kubeconfig", "/dev/null"],
            "empty kubeconfig file" => ["status", "--kubeconfig", File("empty", "")],
            "missing kubeconfig" => ["status", "--kubeconfig", Path.Combine(dir, "none")],
            "unreachable API server" => ["status", "--kubeconfig", Kubeconfig($"https://127.0.0.1:{FreePort.Next()}", "t")],
            "403 from the API server" => ["status", "-n", "default", "--kubeconfig", Kubeconfig(env.ControlPlane?.Server.ToString() ?? "", await ServiceAccounts.TokenAsync(env, await env.CreateNamespaceAsync("cli-403", ct), "nobody", "https://kubernetes.default.svc"))],
            "unknown flag" => ["status", "--bogus", "x"],
            "missing argument" => ["revoke"],
            "unknown output format" => ["status", "-o", "yaml"],
            "extra argument" => ["rotate", "a", "b"],
            _ => ["status", "-n"],
        };
        Assert.SkipWhen(error == "403 from the API server" && env.ControlPlane is null, "needs the envtest control plane");

        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await new CliApp(stdout, stderr).RunAsync(args);

        var err = stderr.ToString();
        Assert.Equal(exitCode, code);
        Assert.Contains(message, err, StringComparison.Ordinal);
        Assert.StartsWith("error: ", err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", err, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception:", err, StringComparison.Ordinal);
        Assert.Single(err.TrimEnd().Split('\n'));
    }

    [Fact]
    public async Task Help_and_shell_completion_come_from_System_CommandLine()
    {
        var (code, help, _) = await RunAsync("--help");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 findings", help, StringComparison.Ordinal);
        Assert.All(["status", "rotate <NAME>", "revoke <NAME> <KID>", "jwks <NAME>", "inspect <TOKEN>"], c => Assert.Contains(c, help, StringComparison.Ordinal));

        (code, help, _) = await RunAsync("revoke", "--help");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("keyrotator revoke <NAME> <KID> [options]", help, StringComparison.Ordinal);
        Assert.Contains("--force", help, StringComparison.Ordinal);

        // What dotnet-suggest (and so bash, zsh and PowerShell completion) asks the command.
        static async Task<string[]> SuggestAsync(params string[] args)
        {
            using var stdout = new StringWriter();
            using var stderr = new StringWriter();
            Assert.Equal(ExitCodes.Ok, await new CliApp(stdout, stderr).RunAsync(args));
            return stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        }

        Assert.Equal(["revoke"], await SuggestAsync("[suggest:2]", "re"));
        Assert.Equal(["--force"], await SuggestAsync("[suggest:10]", "revoke --f"));
    }

    public static TheoryData<string, string> Findings => new()
    {
        { "alg none", "alg_none" },
        { "HS256", "alg_symmetric" },
        { "missing kid", "kid_missing" },
        { "lifetime over 15 minutes", "lifetime_too_long" },
        { "missing aud", "aud_missing" },
        { "missing iss", "iss_missing" },
        { "expired", "expired" },
        { "crit header", "crit" },
        { "jku header", "jku" },
        { "x5u header", "x5u" },
        { "x5c header", "x5c" },
        { "embedded jwk", "jwk" },
    };

    [Theory]
    [MemberData(nameof(Findings))]
    public async Task Inspect_reports_each_hardening_finding(string flaw, string finding)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var header = new Dictionary<string, object> { ["alg"] = "ES256", ["kid"] = "k1", ["typ"] = "JWT" };
        var payload = new Dictionary<string, object> { ["iss"] = "https://auth.example.com", ["aud"] = "api", ["iat"] = now, ["exp"] = now + 300 };
        switch (flaw)
        {
            case "alg none": header["alg"] = "none"; break;
            case "HS256": header["alg"] = "HS256"; break;
            case "missing kid": header.Remove("kid"); break;
            case "lifetime over 15 minutes": payload["exp"] = now + 7200; break;
            case "missing aud": payload.Remove("aud"); break;
            case "missing iss": payload.Remove("iss"); break;
            case "crit header": header["crit"] = new[] { "exp" }; break;
            case "jku header": header["jku"] = "https://attacker.example/jwks.json"; break;
            case "x5u header": header["x5u"] = "https://attacker.example/cert.pem"; break;
            case "x5c header": header["x5c"] = new[] { "MIIB" }; break;
            case "embedded jwk": header["jwk"] = new Dictionary<string, string> { ["kty"] = "EC", ["crv"] = "P-256", ["x"] = "AAAA", ["y"] = "AAAA" }; break;
            default: payload["iat"] = now - 900; payload["exp"] = now - 600; break;
        }

        var token = $"{Base64Url.Encode(JsonSerializer.SerializeToUtf8Bytes(header))}.{Base64Url.Encode(JsonSerializer.SerializeToUtf8Bytes(payload))}.c2ln";
        var (code, output, _) = await RunAsync("inspect", token, "-o", "json");

        Assert.Equal(ExitCodes.Findings, code);
        using var report = JsonDocument.Parse(output);
        var findings = report.RootElement.GetProperty("findings").EnumerateArray().Select(f => f.GetString()!).ToList();
        Assert.Contains(findings, f => f.StartsWith(finding + ":", StringComparison.Ordinal));
        Assert.Single(findings);
    }

    [Fact]
    public async Task Inspect_verifies_against_a_sets_published_jwks()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("cli-inspect", ct);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        var scenario = new OperatorScenario(env, ns);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        await scenario.WaitForActiveKeyAsync("auth");
        var (kid, pem, alg) = await scenario.SigningAsync("auth-signing");
        var token = TokenSigner.Sign(pem!, kid!, alg!, "https://auth.example.com", "api", DateTime.UtcNow, TimeSpan.FromMinutes(5));

        var (code, output, _) = await RunAsync("inspect", token, "--set", "auth", "-n", ns);
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("verification: valid signature", output, StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE", output, StringComparison.Ordinal);

        var forged = token[..^4] + (token[^4] == 'A' ? "B" : "A") + token[^3..];
        (code, output, _) = await RunAsync("inspect", forged, "--set", "auth", "-n", ns);
        Assert.Equal(ExitCodes.Findings, code);
        Assert.Contains("bad_signature", output, StringComparison.Ordinal);

        var jwksFile = Path.GetTempFileName();
        await File.WriteAllTextAsync(jwksFile, (await scenario.JwksJsonAsync("auth-jwks"))!, Encoding.UTF8, ct);
        (code, _, _) = await RunAsync("inspect", token, "--jwks", jwksFile);
        File.Delete(jwksFile);
        Assert.Equal(ExitCodes.Ok, code);
    }
}
