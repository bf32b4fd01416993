using System.Globalization;
using System.Text;
using System.Text.Json;

namespace KeyRotator.Testing;

/// <summary>
/// A real Prometheus server (Debian's, from hack/prometheus.sh; PROMETHEUS_BIN) on loopback: it scrapes
/// the given targets every second, evaluates the given rule files every second, and is read through
/// its HTTP API (/api/v1/alerts, /api/v1/query).
/// </summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    private readonly ManagedProcess _process;
    private readonly HttpClient _http;

    private PrometheusServer(ManagedProcess process, Uri address)
    {
        _process = process;
        Address = address;
        _http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(10) };
    }

    public Uri Address { get; }

    public static string Binary(string name) =>
        Environment.GetEnvironmentVariable("PROMETHEUS_BIN") is { Length: > 0 } bin ? Path.Combine(bin, name) : name;

    /// <summary>
    /// Starts Prometheus scraping <paramref name="targets"/> (host:port) with the rule files given as name → content,
    /// sending <paramref name="bearerToken"/> (a metrics reader's service-account token) on every scrape.
    /// </summary>
    public static Task<PrometheusServer> StartAsync(IEnumerable<string> targets, IReadOnlyDictionary<string, string> ruleFiles, string? bearerToken) =>
        StartAsync(targets, ruleFiles, new ScrapeConfiguration("keyrotator", new Dictionary<string, string>(), HonorLabels: false, bearerToken));

    /// <summary>
    /// Starts Prometheus scraping <paramref name="targets"/> with the job name, target labels and
    /// honor_labels of <paramref name="scrape"/>: what the Prometheus Operator generates for a ServiceMonitor.
    /// </summary>
    public static async Task<PrometheusServer> StartAsync(IEnumerable<string> targets, IReadOnlyDictionary<string, string> ruleFiles, ScrapeConfiguration scrape)
    {
        var work = Directory.CreateTempSubdirectory("keyrotator-prometheus-").FullName;
        foreach (var (name, content) in ruleFiles)
            await File.WriteAllTextAsync(Path.Combine(work, name), content);
        var config = new StringBuilder();
        config.AppendLine("global:");
        config.AppendLine("  scrape_interval: 1s");
        config.AppendLine("  scrape_timeout: 1s");
        config.AppendLine("  evaluation_interval: 1s");
        config.AppendLine("rule_files:");
        foreach (var name in ruleFiles.Keys)
            config.AppendLine(CultureInfo.InvariantCulture, $"  - {name}");
        config.AppendLine("scrape_configs:");
        config.AppendLine(CultureInfo.InvariantCulture, $"  - job_name: '{scrape.JobName}'");
        config.AppendLine(CultureInfo.InvariantCulture, $"    honor_labels: {(scrape.HonorLabels ? "true" : "false")}");
        if (scrape.BearerToken is { } token)
        {
            // As a ServiceMonitor's bearerTokenFile: read from the file on every scrape.
            await File.WriteAllTextAsync(Path.Combine(work, "token"), token);
            config.AppendLine("    authorization:");
            config.AppendLine(CultureInfo.InvariantCulture, $"      credentials_file: '{Path.Combine(work, "token")}'");
        }
        config.AppendLine("    static_configs:");
        config.AppendLine(CultureInfo.InvariantCulture, $"      - targets: [{string.Join(", ", targets.Select(t => $"'{t}'"))}]");
        if (scrape.TargetLabels.Count > 0)
        {
            config.AppendLine("        labels:");
            foreach (var (name, value) in scrape.TargetLabels)
                config.AppendLine(CultureInfo.InvariantCulture, $"          {name}: '{value}'");
        }
        await File.WriteAllTextAsync(Path.Combine(work, "prometheus.yml"), config.ToString());

        var port = FreePort.Next();
        var process = ManagedProcess.Start("prometheus", Binary("prometheus"),
        [
            "--config.file=prometheus.yml",
            $"--storage.tsdb.path={Path.Combine(work, "data")}",
            $"--web.listen-address=127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}",
            "--storage.tsdb.retention.time=1h",
        ], Path.Combine(work, "prometheus.log"), work);
        var server = new PrometheusServer(process, new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}"));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            try
            {
                using var response = await server._http.GetAsync(new Uri("/-/ready", UriKind.Relative));
                if (response.IsSuccessStatusCode)
                    return server;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }

            if (DateTime.UtcNow > deadline || process.HasExited)
            {
                await process.DisposeAsync();
                throw new InvalidOperationException($"Prometheus did not become ready:\n{server.Log()}");
            }

            await Task.Delay(200);
        }
    }

    /// <summary>The alerts Prometheus holds now (pending or firing), with their labels.</summary>
    public async Task<IReadOnlyList<PrometheusAlert>> AlertsAsync(CancellationToken cancellationToken = default)
    {
        using var document = await GetJsonAsync("/api/v1/alerts", cancellationToken);
        return [.. document.RootElement.GetProperty("data").GetProperty("alerts").EnumerateArray().Select(a => new PrometheusAlert(
            a.GetProperty("labels").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "", StringComparer.Ordinal),
            a.GetProperty("state").GetString() ?? ""))];
    }

    /// <summary>An instant query: how many series it returns.</summary>
    public async Task<int> SeriesAsync(string query, CancellationToken cancellationToken = default)
    {
        using var document = await GetJsonAsync($"/api/v1/query?query={Uri.EscapeDataString(query)}", cancellationToken);
        var data = document.RootElement.GetProperty("data");
        return data.GetProperty("resultType").GetString() == "scalar" ? 1 : data.GetProperty("result").GetArrayLength();
    }

    /// <summary>Whether every scrape target is up (the last scrape succeeded).</summary>
    public async Task<int> TargetsUpAsync(CancellationToken cancellationToken = default)
    {
        using var document = await GetJsonAsync("/api/v1/targets", cancellationToken);
        return document.RootElement.GetProperty("data").GetProperty("activeTargets").EnumerateArray().Count(t => t.GetProperty("health").GetString() == "up");
    }

    public string Log() => File.Exists(_process.LogPath) ? string.Join('\n', File.ReadLines(_process.LogPath).TakeLast(40)) : "";

    private async Task<JsonDocument> GetJsonAsync(string path, CancellationToken cancellationToken)
    {
        using var response = await _http.GetAsync(new Uri(path, UriKind.Relative), cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"Prometheus answered {(int)response.StatusCode} to {path}: {body}");
        return JsonDocument.Parse(body);
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _process.DisposeAsync();
    }
}

/// <summary>One alert as Prometheus reports it: its labels (alertname, namespace, name, …) and state (pending or firing).</summary>
public sealed record PrometheusAlert(IReadOnlyDictionary<string, string> Labels, string State)
{
    public string Name => Labels.GetValueOrDefault("alertname", "");

    public string? Label(string name) => Labels.GetValueOrDefault(name);
}

/// <summary>
/// A scrape job: its name, the labels attached to its targets, whether the series' own labels win over
/// them, and the bearer token it scrapes with (none: anonymous).
/// </summary>
public sealed record ScrapeConfiguration(string JobName, IReadOnlyDictionary<string, string> TargetLabels, bool HonorLabels, string? BearerToken = null);
