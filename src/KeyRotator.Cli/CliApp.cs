using System.CommandLine;
using System.CommandLine.Invocation;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using k8s;
using k8s.Autorest;
using k8s.Exceptions;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;

namespace KeyRotator.Cli;

/// <summary>The keyrotator command: status, rotate, revoke, jwks, inspect.</summary>
public sealed class CliApp(TextWriter stdout, TextWriter stderr, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    private readonly Commands _commands = new();

    /// <summary>The help text (System.CommandLine's), as `keyrotator --help` prints it.</summary>
    public string Usage
    {
        get
        {
            using var writer = new StringWriter();
            _commands.Root.Parse(["--help"]).Invoke(new InvocationConfiguration { Output = writer, Error = writer });
            return writer.ToString();
        }
    }

    public async Task<int> RunAsync(string[] args)
    {
        var result = _commands.Root.Parse(args);
        var command = result.CommandResult.Command;

        // Help, and completion through the [suggest] directive, are System.CommandLine's own actions
        // (the commands themselves carry none: they run below, inside one error policy).
        if (result.Action is { } action and not ParseErrorAction)
            return await result.InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        if (args.Length == 0 || command == _commands.Help)
        {
            await stdout.WriteAsync(Usage);
            return ExitCodes.Ok;
        }

        if (result.Errors.Count > 0)
        {
            await stderr.WriteLineAsync($"error: {Commands.Describe(result)}");
            return ExitCodes.Usage;
        }

        try
        {
            if (command == _commands.Status)
                return await StatusAsync(result);
            if (command == _commands.Rotate)
                return await RotateAsync(result);
            if (command == _commands.Revoke)
                return await RevokeAsync(result);
            if (command == _commands.JwksCommand)
                return await JwksAsync(result);
            return await InspectAsync(result);
        }
        catch (UsageException e)
        {
            await stderr.WriteLineAsync($"error: {e.Message}");
            return ExitCodes.Usage;
        }
        catch (NotFoundException e)
        {
            await stderr.WriteLineAsync($"error: {e.Message}");
            return ExitCodes.NotFound;
        }
        catch (KubeConfigException e)
        {
            await stderr.WriteLineAsync($"error: {e.Message}");
            return ExitCodes.Error;
        }
        catch (HttpOperationException e)
        {
            var hint = (int)e.Response.StatusCode switch
            {
                401 => ": the kubeconfig's credentials were refused; log in again or fix the user in the kubeconfig",
                403 => ": your user may not do this; ask for access to signingkeysets (and configmaps for jwks) in that namespace",
                _ => "",
            };
            await stderr.WriteLineAsync($"error: the API server answered {(int)e.Response.StatusCode} {e.Response.ReasonPhrase}{hint}");
            return ExitCodes.Error;
        }
        catch (HttpRequestException e)
        {
            await stderr.WriteLineAsync($"error: cannot reach the API server ({e.Message}); check the server address in the kubeconfig and your network");
            return ExitCodes.Error;
        }
        catch (TaskCanceledException)
        {
            await stderr.WriteLineAsync("error: the API server did not answer in time; check the server address in the kubeconfig and your network");
            return ExitCodes.Error;
        }
        catch (Exception e)
        {
            // Never a stack trace: one line, and the exit code for failures.
            await stderr.WriteLineAsync($"error: {e.GetType().Name}: {e.Message} (this is a bug in keyrotator; please report it with the command you ran)");
            return ExitCodes.Error;
        }
    }

    private async Task<int> StatusAsync(ParseResult line)
    {
        using var client = Connect(line);
        var sets = new SigningKeySetClient(client);
        var list = line.GetValue(_commands.AllNamespaces) ? await sets.ListAsync() : await sets.ListAsync(Namespace(line, client));
        var rows = list.Items.OrderBy(s => s.Metadata.NamespaceProperty, StringComparer.Ordinal).ThenBy(s => s.Metadata.Name, StringComparer.Ordinal).Select(StatusRow.From).ToList();

        if (Json(line))
        {
            await stdout.WriteLineAsync(JsonSerializer.Serialize(rows, CliJson.Default.ListStatusRow));
            return ExitCodes.Ok;
        }

        if (rows.Count == 0)
        {
            await stdout.WriteLineAsync("No SigningKeySets found.");
            return ExitCodes.Ok;
        }

        var table = rows.Select(r => new[]
        {
            r.Namespace ?? "", r.Name ?? "", r.Algorithm, Short(r.ActiveKid),
            string.Join(" ", r.Keys.Select(k => $"{Short(k.Kid)}={k.State}")),
            r.NextRotation?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) ?? "-",
            r.Reason is null ? r.Ready : $"{r.Ready} ({r.Reason})",
            Propagation(r.Propagation),
        }).ToList();
        await WriteTableAsync(["NAMESPACE", "NAME", "ALG", "ACTIVE KID", "KEYS", "NEXT ROTATION", "READY", "VERIFIERS / SIGNERS"], table);
        return ExitCodes.Ok;
    }

    /// <summary>"12 (11 with next), 3/3 signing": verifiers heard and how many hold the pending (else active) key; signers on the active key.</summary>
    private static string Propagation(KeyRotator.Model.Resources.PropagationStatus? p)
    {
        if (p is null)
            return "-";
        var verifiers = p.VerifiersWithNextKey is { } next ? $"{p.Verifiers} ({next} with next)" : $"{p.Verifiers} ({p.VerifiersWithActiveKey} with active)";
        return p.Signers > 0 ? $"{verifiers}, {p.SignersOnActiveKey}/{p.Signers} signing" : verifiers;
    }

    private async Task<int> RotateAsync(ParseResult line)
    {
        var name = line.GetRequiredValue(_commands.Name);
        using var client = Connect(line);
        var ns = Namespace(line, client);
        var sets = new SigningKeySetClient(client, _time);
        var request = _time.GetUtcNow().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        await CliReads.UpdateSetAsync(sets, ns, name, set =>
        {
            set.Metadata.Annotations ??= new Dictionary<string, string>();
            set.Metadata.Annotations[Labels.RotateNowAnnotation] = request;
            return true;
        });
        await Write(line, new RotateAnswer(ns, name, request), CliJson.Default.RotateAnswer,
            $"Rotation of {ns}/{name} requested ({Labels.RotateNowAnnotation}={request}): a new key is published now and signs after prePublish.");
        return ExitCodes.Ok;
    }

    private async Task<int> RevokeAsync(ParseResult line)
    {
        var name = line.GetRequiredValue(_commands.Name);
        var kid = line.GetRequiredValue(_commands.Kid);
        using var client = Connect(line);
        var ns = Namespace(line, client);
        var sets = new SigningKeySetClient(client, _time);
        var set = await CliReads.GetSetAsync(sets, ns, name);
        var key = set.Status?.Keys?.FirstOrDefault(k => k.Kid == kid);
        if (key is null && !line.GetValue(_commands.Force))
            throw new NotFoundException($"{ns}/{name} has no key {kid} (see `keyrotator status -n {ns}`); use --force to revoke it anyway");
        // The operator updates the set's status while it works; a revocation that races it reads again, never fails on it.
        await CliReads.UpdateSetAsync(sets, ns, name, current =>
        {
            var revoked = current.Spec.RevokedKeyIds ?? [];
            if (revoked.Contains(kid))
                return false;
            current.Spec = current.Spec with { RevokedKeyIds = [.. revoked, kid] };
            return true;
        });

        var forced = key?.State == "Active" ? " It was the active key: a replacement is activated at once (a forced rotation)." : "";
        await Write(line, new RevokeAnswer(ns, name, kid, key?.State == "Active"), CliJson.Default.RevokeAnswer,
            $"Key {kid} of {ns}/{name} is revoked: it leaves every JWKS within one reconcile and never signs again.{forced}");
        return ExitCodes.Ok;
    }

    private async Task<int> JwksAsync(ParseResult line)
    {
        var name = line.GetRequiredValue(_commands.Name);
        using var client = Connect(line);
        var ns = Namespace(line, client);
        var set = await CliReads.GetSetAsync(new SigningKeySetClient(client), ns, name);
        var json = await CliReads.ReadJwksAsync(client, set);
        await stdout.WriteAsync(json);
        return ExitCodes.Ok;
    }

    private async Task<int> InspectAsync(ParseResult line)
    {
        var token = line.GetRequiredValue(_commands.Token);
        if (token == "-")
            token = (await Console.In.ReadToEndAsync()).Trim();
        JwksDocument? jwks = null;
        if (line.GetValue(_commands.Jwks) is { } file)
        {
            if (!File.Exists(file))
                throw new NotFoundException($"no JWKS file at {file}");
            jwks = await CliReads.ReadJwksFileAsync(file);
        }
        else if (line.GetValue(_commands.Set) is { } setName)
        {
            using var client = Connect(line);
            var set = await CliReads.GetSetAsync(new SigningKeySetClient(client), Namespace(line, client), setName);
            jwks = JwksDocument.Parse(await CliReads.ReadJwksAsync(client, set));
        }

        var report = TokenInspector.Inspect(token, _time.GetUtcNow(), jwks);
        var failed = report.Findings.Count > 0 || (report.Verification is not null && report.Verification != "valid signature");
        if (Json(line))
        {
            await stdout.WriteLineAsync(JsonSerializer.Serialize(report, CliJson.Default.Report));
        }
        else
        {
            if (report.Header is { } header)
                await stdout.WriteLineAsync($"header:  {header.GetRawText()}");
            if (report.Payload is { } payload)
                await stdout.WriteLineAsync($"payload: {payload.GetRawText()}");
            await stdout.WriteLineAsync(report.Findings.Count == 0 ? "findings: none" : "findings:");
            foreach (var finding in report.Findings)
                await stdout.WriteLineAsync($"  - {finding}");
            if (report.Verification is not null)
                await stdout.WriteLineAsync($"verification: {report.Verification}");
        }

        return failed ? ExitCodes.Findings : ExitCodes.Ok;
    }

    /// <summary>The namespace of the kubeconfig context in use, the default when -n is not given (as with kubectl).</summary>
    private string? _contextNamespace;

    private k8s.Kubernetes Connect(ParseResult line)
    {
        var (client, contextNamespace) = CliReads.Connect(line.GetValue(_commands.Kubeconfig), line.GetValue(_commands.Context));
        _contextNamespace = contextNamespace;
        return client;
    }

    private string Namespace(ParseResult line, k8s.Kubernetes client) =>
        line.GetValue(_commands.Namespace) ?? (_contextNamespace is { Length: > 0 } ns ? ns : "default");

    private bool Json(ParseResult line) => line.GetValue(_commands.Output) == "json";

    private async Task Write<T>(ParseResult line, T json, JsonTypeInfo<T> info, string text) =>
        await stdout.WriteLineAsync(Json(line) ? JsonSerializer.Serialize(json, info) : text);

    private async Task WriteTableAsync(string[] headers, List<string[]> rows)
    {
        var widths = headers.Select((h, i) => Math.Max(h.Length, rows.Max(r => r[i].Length))).ToArray();
        await stdout.WriteLineAsync(string.Join("   ", headers.Select((h, i) => h.PadRight(widths[i]))).TrimEnd());
        foreach (var row in rows)
            await stdout.WriteLineAsync(string.Join("   ", row.Select((c, i) => c.PadRight(widths[i]))).TrimEnd());
    }

    private static string Short(string? kid) => kid is null ? "-" : kid.Length > 12 ? kid[..12] + "…" : kid;
}
