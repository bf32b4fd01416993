using System.Diagnostics;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Chart;

/// <summary>
/// The chart's alert rules, rendered from the chart (not a copy), checked and unit-tested with Debian's
/// promtool (hack/prometheus.sh; PROMETHEUS_BIN), and the operator's metrics checked by promtool.
/// </summary>
public sealed class AlertRuleTests(KubernetesEnvironment env)
{
    private static string Chart => Path.Combine(Repository.Root, "charts", "keyrotator");

    private static string Promtool =>
        Environment.GetEnvironmentVariable("PROMETHEUS_BIN") is { Length: > 0 } bin ? Path.Combine(bin, "promtool") : "promtool";

    /// <summary>The rule groups of templates/prometheusrule.yaml as Helm renders them, as a Prometheus rules file.</summary>
    public static async Task<string> RenderRulesAsync(params string[] sets)
    {
        var args = new List<string> { "template", "kr", Chart, "--set", "prometheusRule.enabled=true", "--show-only", "templates/prometheusrule.yaml" };
        foreach (var set in sets)
            args.AddRange(["--set", set]);
        var (code, output) = await Repository.RunAsync(Repository.Helm, [.. args]);
        Assert.True(code == 0, output);
        var lines = output.Split('\n');
        var spec = Array.FindIndex(lines, l => l == "spec:");
        Assert.True(spec > 0, output);
        return string.Join('\n', lines.Skip(spec + 1).Select(l => l.StartsWith("  ", StringComparison.Ordinal) ? l[2..] : l)) + "\n";
    }

    [Fact]
    public async Task Every_alert_passes_its_promtool_unit_tests_and_each_test_file_can_fail()
    {
        var work = Directory.CreateTempSubdirectory("keyrotator-rules-").FullName;
        var tests = Directory.GetFiles(Path.Combine(Chart, "tests", "alerts"), "*.test.yaml");
        foreach (var file in tests)
            File.Copy(file, Path.Combine(work, Path.GetFileName(file)));
        await File.WriteAllTextAsync(Path.Combine(work, "rules.yaml"), await RenderRulesAsync(), TestContext.Current.CancellationToken);

        var (checkCode, check) = await RunAsync(work, null, "check", "rules", "rules.yaml");
        Assert.True(checkCode == 0, check);
        Assert.Contains("SUCCESS: 6 rules found", check, StringComparison.Ordinal);

        var (testCode, output) = await RunAsync(work, null, ["test", "rules", .. tests.Select(Path.GetFileName)!]);
        Assert.True(testCode == 0, output);
        foreach (var alert in new[] { "rotation-overdue", "rotation-failing", "jwks-missing-active-key", "signature-failure-spike", "propagation-incomplete", "operator-absent" })
            Assert.Contains($"{alert}.test.yaml", output, StringComparison.Ordinal);

        // The same tests against rules with shifted thresholds fail: they pin the boundaries.
        await File.WriteAllTextAsync(Path.Combine(work, "rules.yaml"), await RenderRulesAsync("prometheusRule.rotationOverdueGrace=30m", "prometheusRule.for.operatorAbsent=20m"), TestContext.Current.CancellationToken);
        var (shiftedCode, shifted) = await RunAsync(work, null, ["test", "rules", .. tests.Select(Path.GetFileName)!]);
        Assert.NotEqual(0, shiftedCode);
        Assert.Contains("FAILED", shifted, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Runbook_urls_follow_the_chart_value()
    {
        var rules = await RenderRulesAsync("prometheusRule.runbookBaseUrl=https://wiki.example.com/keyrotator#");
        Assert.Equal(6, rules.Split('\n').Count(l => l.Contains("runbook_url: \"https://wiki.example.com/keyrotator#keyrotator", StringComparison.Ordinal)));
        Assert.DoesNotContain("github.com", rules, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_dashboard_ships_in_a_labelled_ConfigMap_covers_the_SRE_views_and_every_query_parses()
    {
        var ct = TestContext.Current.CancellationToken;
        var (code, rendered) = await Repository.RunAsync(Repository.Helm, "template", "kr", Chart, "--set", "grafanaDashboard.enabled=true", "--show-only", "templates/dashboard.yaml");
        Assert.True(code == 0, rendered);
        var configMap = TestYaml.Deserialize<k8s.Models.V1ConfigMap>(rendered[rendered.IndexOf("apiVersion", StringComparison.Ordinal)..]);
        Assert.Equal("1", configMap.Metadata.Labels["grafana_dashboard"]);
        using var dashboard = System.Text.Json.JsonDocument.Parse(configMap.Data["keyrotator.json"]);
        var panels = dashboard.RootElement.GetProperty("panels").EnumerateArray().ToList();
        var titles = panels.Select(p => p.GetProperty("title").GetString()!).ToList();
        foreach (var view in new[] { "Sets by readiness", "Time to next rotation", "Keys by state", "Rotations by trigger", "Rotation errors by stage", "Signature failures by reason and kid (spike marked)", "Reconcile latency", "Vault latency", "Leader and watch health" })
            Assert.Contains(view, titles);

        // Every query is valid PromQL: promtool checks them as recording rules (Grafana's $__rate_interval as 5m).
        var rules = new System.Text.StringBuilder("groups:\n  - name: dashboard\n    rules:\n");
        var count = 0;
        foreach (var panel in panels)
        {
            var targets = panel.GetProperty("targets").EnumerateArray().ToList();
            Assert.NotEmpty(targets);
            foreach (var target in targets)
            {
                var expr = target.GetProperty("expr").GetString()!.Replace("$__rate_interval", "5m", StringComparison.Ordinal);
                rules.Append(System.Globalization.CultureInfo.InvariantCulture, $"      - record: keyrotator_dashboard_query_{++count}\n        expr: '{expr.Replace("'", "''", StringComparison.Ordinal)}'\n");
            }
        }

        var work = Directory.CreateTempSubdirectory("keyrotator-dashboard-").FullName;
        await File.WriteAllTextAsync(Path.Combine(work, "queries.yaml"), rules.ToString(), ct);
        var (checkCode, check) = await RunAsync(work, null, "check", "rules", "queries.yaml");
        Assert.True(checkCode == 0, check);
        Assert.Contains($"SUCCESS: {count} rules found", check, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_scrape_of_the_operator_passes_promtool_check_metrics()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("metrics-lint", ct);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        var scenario = new OperatorScenario(env, ns);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        await scenario.WaitForActiveKeyAsync("auth");
        using var http = new HttpClient { BaseAddress = op.BaseAddress };
        var scrape = await http.GetMetricsAsync(env, ct);

        var (code, output) = await RunAsync(Path.GetTempPath(), scrape, "check", "metrics");

        Assert.True(code == 0, $"promtool check metrics:\n{output}");
    }

    private static async Task<(int Code, string Output)> RunAsync(string directory, string? stdin, params string[] arguments)
    {
        var info = new ProcessStartInfo(Promtool) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = stdin is not null, WorkingDirectory = directory };
        foreach (var argument in arguments)
            info.ArgumentList.Add(argument);
        using var process = Process.Start(info)!;
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
            process.StandardInput.Close();
        }

        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }
}
