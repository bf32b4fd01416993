// Longer than 300 lines: every alert rule is driven through one real Prometheus and one scrape set-up; each test is short.
using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Azure.Core;
using k8s;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Tests.Chaos;
using KeyRotator.Operator.Tests.Chart;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;
using KeyRotator.Testing.Azure;
using Microsoft.Extensions.DependencyInjection;

namespace KeyRotator.Operator.Tests.Observability;

/// <summary>
/// The chart's alert rules, rendered from the chart with short `for:` durations set through chart
/// values, loaded into a real Prometheus that scrapes the operator under test every second. Each
/// condition is driven for real and each alert is seen through Prometheus's API to go pending, fire
/// and resolve. A deliberately broken copy of the rules (metric names misspelt) is loaded next to
/// them and never behaves like the real ones; every dashboard query returns series.
/// </summary>
[Collection(RealProcesses.Name)]
public sealed partial class PrometheusAlertTests(KubernetesEnvironment env) : IAsyncLifetime
{
    private static readonly string[] ShortRules =
    [
        "prometheusRule.for.rotationOverdue=3s",
        "prometheusRule.for.rotationFailing=3s",
        "prometheusRule.for.jwksMissingActiveKey=3s",
        "prometheusRule.for.propagationIncomplete=3s",
        "prometheusRule.for.signatureFailureSpike=2s",
        "prometheusRule.for.operatorAbsent=3s",
        "prometheusRule.rotationOverdueGrace=3s",
        "prometheusRule.rotationFailingWindow=20s",
    ];

    /// <summary>The content hash of a JWKS the operator never published: a verifier holding it lacks the active key.</summary>
    private const string StaleHash = "0000000000000000000000000000000000000000000000000000000000000000";

    private readonly FakeTokenCredential _credential = new();
    private readonly string _host = $"kr-{Guid.NewGuid():N}"[..16] + ".vault.azure.net";
    private AzureKeyVaultFake _fake = null!;
    private AzuriteServer _storage = null!;

    public async ValueTask InitializeAsync()
    {
        _fake = await AzureKeyVaultFake.StartAsync();
        _storage = await AzuriteServer.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _fake.DisposeAsync();
        await _storage.DisposeAsync();
    }

    [Fact]
    public async Task Every_alert_goes_pending_fires_and_resolves_on_a_real_Prometheus_and_a_broken_copy_never_does()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("alerts", ct);
        await env.GrantVaultAsync(ns, azure: new AzureKeyVaultGrant { VaultUri = $"https://{_host}" }, cancellationToken: ct);
        var scenario = new OperatorScenario(env, ns);
        var port = FreePort.Next();
        var settings = new Dictionary<string, string?> { ["urls"] = $"http://127.0.0.1:{port}" };
        void UseFake(IServiceCollection services)
        {
            services.AddSingleton<TokenCredential>(_credential);
            services.AddSingleton(_fake.ClientOptions(1, 2));
        }

        var rules = await AlertRuleTests.RenderRulesAsync(ShortRules);
        var op = await OperatorInstance.StartAsync(env, [ns], settings: settings, configure: UseFake);
        // Prometheus scrapes as the chart's ServiceMonitor does: with a token of a service account bound to the metrics-reader role.
        await using var prometheus = await PrometheusServer.StartAsync([$"127.0.0.1:{port}"], new Dictionary<string, string> { ["rules.yaml"] = rules, ["broken.yaml"] = Broken(rules) },
            await MetricsScrape.ReaderTokenAsync(env, ct));
        await using var alerts = new AlertRecorder(prometheus, ns);
        using var stopBeating = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var heartbeats = Task.CompletedTask;
        try
        {
            // Four sets: one whose verifiers report failures, one in a long rotation with a healthy verifier and
            // signer, one on a vault that will go down, and later one created while that vault is down.
            await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("spiky", ns)
                .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
                .WithSpec(s => s with { SignatureFailureAlert = new SignatureFailureAlertSpec { Window = "60s", Threshold = 5, Ratio = 5 } })
                .Build(), ct);
            // "rolling" also publishes outside the cluster (Azurite), for the external-targets panel.
            var (_, storageTarget) = await Publishing.BlobTargets.CreateAsync(env, ns, _storage, ns, ct);
            await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("rolling", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
                .WithSpec(s => s with { Publish = [new PublishSpec { Target = storageTarget, Path = "team/rolling" }] }).Build(), ct);
            await scenario.Sets.CreateAsync(AzureSet("overdue", ns, "20s"), ct);
            await scenario.WaitForActiveKeyAsync("spiky");
            var rolling = await scenario.WaitForActiveKeyAsync("rolling");
            await scenario.WaitForActiveKeyAsync("overdue");
            await Eventually.HoldsAsync(() => prometheus.SeriesAsync($"keyrotator_signingkeyset_ready{{namespace=\"{ns}\"}} == 1", ct), n => n == 3, TimeSpan.FromSeconds(30), "the sets ready in Prometheus", ct);

            // Prometheus evaluates its rules before its first scrapes land: start from a quiet state.
            await Eventually.HoldsAsync(() => prometheus.AlertsAsync(ct), a => !a.Any(x => x.Name.StartsWith("KeyRotator", StringComparison.Ordinal)), TimeSpan.FromSeconds(30), "no real alert active", ct);
            alerts.Clear();

            // "rolling" pre-publishes its next key for ten minutes; a verifier and a signer that hold the keys report.
            await scenario.EditAsync(rolling.Metadata.Name, s =>
            {
                s.Spec = s.Spec with { Rotation = s.Spec.Rotation with { PrePublish = "10m" } };
                s.Metadata.Annotations = new Dictionary<string, string> { [Labels.RotateNowAnnotation] = "dashboard" };
            }, ct);
            await Eventually.HoldsAsync(() => scenario.GetAsync("rolling"), s => s.Status?.NextKeyId is not null, TimeSpan.FromSeconds(30), "rolling pre-publishing", ct);

            // A verifier with a JWKS that lacks the active key reports a burst of bad signatures, then keeps
            // heartbeating (the operator forgets callers silent for 30 s); so does a signer of "rolling".
            var token = await ServiceAccounts.TokenAsync(env, ns, "verifier", "keyrotator", grantReporter: true);
            using var http = new HttpClient { BaseAddress = op.BaseAddress };
            Assert.Equal(HttpStatusCode.Accepted, await ReportAsync(http, ns, "spiky", token, new { failures = new[] { new { reason = "bad_signature", kid = "forged-kid", count = 20 } }, instance = "verifier-pod", jwksHash = StaleHash }, ct));
            var spikyHash = StaleHash;
            heartbeats = Task.Run(async () =>
            {
                while (!stopBeating.IsCancellationRequested)
                {
                    try
                    {
                        await ReportAsync(http, ns, "spiky", token, new { failures = Array.Empty<object>(), instance = "verifier-pod", jwksHash = Volatile.Read(ref spikyHash) }, stopBeating.Token);
                        await ReportAsync(http, ns, "rolling", token, new { failures = Array.Empty<object>(), instance = "signer-pod", jwksHash = await HashAsync(ns, "rolling", stopBeating.Token), signingKid = rolling.Status!.ActiveKeyId }, stopBeating.Token);
                        await Task.Delay(3000, stopBeating.Token);
                    }
                    catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
                    {
                    }
                }
            }, CancellationToken.None);
            (await http.GetAsync(new Uri($"/v1/namespaces/{ns}/signingkeysets/rolling/jwks.json", UriKind.Relative), ct)).Dispose();

            // The vault goes down: "overdue" passes its due time, its rotations fail, and "nokey" never gets a key.
            _fake.Down = true;
            await scenario.Sets.CreateAsync(AzureSet("nokey", ns, "1h"), ct);

            var firing = new (string Alert, string Set)[]
            {
                ("KeyRotatorSignatureFailureSpike", "spiky"),
                ("KeyRotatorPropagationIncomplete", "spiky"),
                ("KeyRotatorRotationOverdue", "overdue"),
                ("KeyRotatorRotationFailing", "overdue"),
                ("KeyRotatorJwksMissingActiveKey", "nokey"),
            };
            await Eventually.HoldsAsync(() => Task.FromResult(firing.Where(f => !alerts.HasFired(f.Alert, f.Set)).ToList()), missing => missing.Count == 0,
                TimeSpan.FromSeconds(120), "every condition's alert firing", ct);

            // While they fire, every dashboard query returns series (the spike and propagation markers included).
            foreach (var query in DashboardQueries())
                Assert.True(await prometheus.SeriesAsync(query, ct) > 0, $"the dashboard query {query} returned no series");

            // Everything heals: the vault is back, the verifier reloads, the failures stop.
            _fake.Down = false;
            Volatile.Write(ref spikyHash, await HashAsync(ns, "spiky", ct));
            await Eventually.HoldsAsync(() => Task.FromResult(firing.Where(f => !alerts.HasResolved(f.Alert, f.Set)).ToList()), missing => missing.Count == 0,
                TimeSpan.FromSeconds(120), "every alert resolving", ct);

            // The operator goes away: its series go stale and OperatorAbsent fires; a new operator resolves it.
            await op.DisposeAsync();
            await Eventually.HoldsAsync(() => Task.FromResult(alerts.HasFired("KeyRotatorOperatorAbsent", null)), fired => fired, TimeSpan.FromSeconds(60), "OperatorAbsent firing", ct);
            op = await OperatorInstance.StartAsync(env, [ns], settings: settings, configure: UseFake);
            await Eventually.HoldsAsync(() => Task.FromResult(alerts.HasResolved("KeyRotatorOperatorAbsent", null)), resolved => resolved, TimeSpan.FromSeconds(60), "OperatorAbsent resolving", ct);

            // Each real alert went pending before firing (a `for:` was honoured) and fired once per set, not per series.
            foreach (var (alert, set) in firing.Append(("KeyRotatorOperatorAbsent", null!)))
            {
                var history = alerts.History(alert, set);
                Assert.True(history.IndexOf("pending") >= 0 && history.IndexOf("pending") < history.IndexOf("firing"), $"{alert} {set}: {string.Join(" → ", history)}");
            }

            Assert.DoesNotContain(alerts.Seen(real: true), a => a.Set == "rolling");

            // The broken copy: none of its per-set alerts ever went pending, and its absent() fires while the operator leads.
            var broken = alerts.Seen(real: false);
            Assert.DoesNotContain(broken, a => a.Alert != "BrokenKeyRotatorOperatorAbsent");
            Assert.Contains(await prometheus.AlertsAsync(ct), a => a.Name == "BrokenKeyRotatorOperatorAbsent" && a.State == "firing");
        }
        catch (Exception e) when (e is TimeoutException or Xunit.Sdk.XunitException)
        {
            throw new InvalidOperationException($"{e.Message}\nalerts seen:\n{alerts.Describe()}\nPrometheus log:\n{prometheus.Log()}", e);
        }
        finally
        {
            await stopBeating.CancelAsync();
            await heartbeats;
            await op.DisposeAsync();
        }
    }

    [Fact]
    public async Task Two_scraped_replicas_raise_each_alert_once_and_a_failover_neither_hides_it_nor_reports_the_operator_absent()
    {
        var ct = TestContext.Current.CancellationToken;
        var plane = env.ControlPlane;
        Assert.SkipWhen(plane is null, "needs the envtest control plane (its operator credentials) to run operator processes");
        var ns = await env.CreateNamespaceAsync("alerts-ha", ct);
        await env.GrantVaultAsync(ns, azure: new AzureKeyVaultGrant { VaultUri = $"https://{_host}" }, cancellationToken: ct);
        var scenario = new OperatorScenario(env, ns);
        int portA = FreePort.Next(), portB = FreePort.Next();

        // The takeover (a 6 s lease) is shorter than OperatorAbsent's for: (30 s here, 10 m shipped).
        var rules = await AlertRuleTests.RenderRulesAsync([.. ShortRules, "prometheusRule.for.operatorAbsent=30s"]);
        await using var a = new OperatorProcess(env, "replica-a", plane.OperatorKubeconfigPath, [ns], OperatorInstance.FastFailover, portA);
        await using var b = new OperatorProcess(env, "replica-b", plane.OperatorKubeconfigPath, [ns], OperatorInstance.FastFailover, portB);
        a.Start();
        await Eventually.HoldsAsync(() => env.Admin.CoordinationV1.ReadNamespacedLeaseAsync("keyrotator-leader", ns, cancellationToken: ct),
            l => l.Spec.HolderIdentity == "replica-a", TimeSpan.FromSeconds(60), "replica-a leading", ct);
        b.Start();
        await using var prometheus = await PrometheusServer.StartAsync([$"127.0.0.1:{portA}", $"127.0.0.1:{portB}"], new Dictionary<string, string> { ["rules.yaml"] = rules },
            await MetricsScrape.ReaderTokenAsync(env, ct));
        await using var alerts = new AlertRecorder(prometheus, ns);

        // A set whose JWKS ConfigMap name belongs to someone else never gets a key: JwksMissingActiveKey.
        await env.Admin.CoreV1.CreateNamespacedConfigMapAsync(new k8s.Models.V1ConfigMap { Metadata = new() { Name = "held-jwks" }, Data = new Dictionary<string, string> { ["owner"] = "another team" } }, ns, cancellationToken: ct);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("held", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        try
        {
            await Eventually.HoldsAsync(() => Task.FromResult(alerts.HasFired("KeyRotatorJwksMissingActiveKey", "held")), f => f, TimeSpan.FromSeconds(60), "JwksMissingActiveKey firing", ct);

            // Both replicas export the set (the standby from the status it watches); the alert is raised once.
            Assert.Equal(2, await prometheus.SeriesAsync($"keyrotator_signingkeyset_ready{{namespace=\"{ns}\",name=\"held\"}} == 0", ct));
            Assert.Single(await prometheus.AlertsAsync(ct), x => x.Name == "KeyRotatorJwksMissingActiveKey" && x.Label("name") == "held");

            // The leader dies (SIGKILL); the standby takes over. The alert keeps firing throughout, once,
            // and no replica leading for a few seconds is not an absent operator.
            await a.KillAsync();
            await Eventually.HoldsAsync(() => prometheus.SeriesAsync($"keyrotator_leader{{instance=\"127.0.0.1:{portB}\"}} == 1", ct), n => n == 1, TimeSpan.FromSeconds(60), "replica-b leading in Prometheus", ct);
            await Eventually.HoldsAsync(() => env.Admin.CoordinationV1.ReadNamespacedLeaseAsync("keyrotator-leader", ns, cancellationToken: ct),
                l => l.Spec.HolderIdentity == "replica-b", TimeSpan.FromSeconds(5), "replica-b holding the Lease", ct);
            await Eventually.HoldsAsync(() => prometheus.SeriesAsync($"keyrotator_signingkeyset_ready{{namespace=\"{ns}\",name=\"held\"}}", ct), n => n == 1,
                TimeSpan.FromSeconds(30), "the killed leader's series gone stale", ct);
            Assert.Equal(["pending", "firing"], alerts.History("KeyRotatorJwksMissingActiveKey", "held"));
            Assert.Single(await prometheus.AlertsAsync(ct), x => x.Name == "KeyRotatorJwksMissingActiveKey" && x.Label("name") == "held" && x.State == "firing");
            Assert.False(alerts.HasFired("KeyRotatorOperatorAbsent", null), string.Join(" → ", alerts.History("KeyRotatorOperatorAbsent", null)));
        }
        catch (Exception e) when (e is TimeoutException or Xunit.Sdk.XunitException)
        {
            throw new InvalidOperationException($"{e.Message}\nalerts seen:\n{alerts.Describe()}\nreplica-a:\n{a.Tail()}\nreplica-b:\n{b.Tail()}", e);
        }
    }

    private V1Alpha1SigningKeySet AzureSet(string name, string ns, string interval) => SigningKeySetBuilder.Named(name, ns)
        .WithAlgorithm("ES256")
        .WithRotation(r => r with { Interval = interval, PrePublish = "1s" })
        .WithSpec(s => s with { Vault = new VaultSpec { Provider = "AzureKeyVault", AzureKeyVault = new AzureKeyVaultSpec { VaultUri = $"https://{_host}", KeyName = name } } })
        .Build();

    private async Task<string> HashAsync(string ns, string set, CancellationToken ct) =>
        (await env.Admin.CoreV1.ReadNamespacedConfigMapAsync($"{set}-jwks", ns, cancellationToken: ct)).Metadata.Annotations[Labels.ContentHashAnnotation];

    private static async Task<HttpStatusCode> ReportAsync(HttpClient http, string ns, string set, string token, object report, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/namespaces/{ns}/signingkeysets/{set}/signaturefailures") { Content = JsonContent.Create(report) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request, ct);
        return response.StatusCode;
    }

    /// <summary>The same rules with every metric name misspelt and every alert renamed Broken…: what a typo in the chart would ship.</summary>
    private static string Broken(string rules) =>
        MetricName().Replace(rules.Replace("alert: KeyRotator", "alert: BrokenKeyRotator", StringComparison.Ordinal).Replace("name: keyrotator", "name: keyrotator-broken", StringComparison.Ordinal), "keyrotator_misspelt_");

    /// <summary>Every query of the shipped dashboard, with Grafana's $__rate_interval as 30s.</summary>
    private static IEnumerable<string> DashboardQueries()
    {
        using var dashboard = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(Repository.Root, "charts", "keyrotator", "dashboards", "keyrotator.json")));
        return [.. dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .SelectMany(p => p.GetProperty("targets").EnumerateArray())
            .Select(t => t.GetProperty("expr").GetString()!.Replace("$__rate_interval", "30s", StringComparison.Ordinal))];
    }

    [GeneratedRegex("keyrotator_(?=[a-z])")]
    private static partial Regex MetricName();

    /// <summary>Polls Prometheus's alerts twice a second and keeps each alert's history of states (pending, firing, resolved).</summary>
    [Fact]
    public async Task Sets_of_one_name_in_two_namespaces_alert_separately_when_scraped_as_the_Prometheus_Operator_scrapes_the_charts_ServiceMonitor()
    {
        var ct = TestContext.Current.CancellationToken;
        var healthy = await env.CreateNamespaceAsync("alerts-healthy", ct);
        var broken = await env.CreateNamespaceAsync("alerts-broken", ct);
        var port = FreePort.Next();
        await using var op = await OperatorInstance.StartAsync(env, [healthy, broken], settings: new Dictionary<string, string?> { ["urls"] = $"http://127.0.0.1:{port}" });

        // The scrape job the Prometheus Operator generates for the chart's ServiceMonitor: its target labels
        // (job, namespace, service, pod, container, endpoint: the operator's, not a set's) and honor_labels as rendered.
        // The pod's own service-account token (bearerTokenFile), here a service account bound to the chart's metrics-reader role.
        var (service, honorLabels, bearerTokenFile) = await RenderServiceMonitorAsync();
        Assert.Equal("/var/run/secrets/kubernetes.io/serviceaccount/token", bearerTokenFile);
        var scrape = new ScrapeConfiguration($"serviceMonitor/keyrotator-system/{service}/0", new Dictionary<string, string>
        {
            ["job"] = service,
            ["namespace"] = "keyrotator-system",
            ["service"] = service,
            ["pod"] = $"{service}-6c9f7d5b8-x2k4q",
            ["container"] = "operator",
            ["endpoint"] = "http",
        }, honorLabels, await MetricsScrape.ReaderTokenAsync(env, ct));
        await using var prometheus = await PrometheusServer.StartAsync([$"127.0.0.1:{port}"], new Dictionary<string, string> { ["rules.yaml"] = await AlertRuleTests.RenderRulesAsync(ShortRules) }, scrape);

        // "auth" in one namespace works; "auth" in the other cannot (its spec is refused).
        await new OperatorScenario(env, healthy).Sets.CreateAsync(SigningKeySetBuilder.Named("auth", healthy).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        await new OperatorScenario(env, broken).Sets.CreateAsync(SigningKeySetBuilder.Named("auth", broken)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s", Overlap = "1s" }).Build(), ct);
        await new OperatorScenario(env, healthy).WaitForActiveKeyAsync("auth");
        await new OperatorScenario(env, broken).WaitForReadyReasonAsync("auth", "InvalidSpec", ct);

        // Each set is its own series, under its own namespace, and the broken one alerts under its namespace.
        await Eventually.HoldsAsync(() => prometheus.SeriesAsync($"keyrotator_signingkeyset_ready{{name=\"auth\",namespace=~\"{healthy}|{broken}\"}}", ct), n => n == 2, TimeSpan.FromSeconds(30), "both sets scraped under their own namespaces", ct);
        var alerts = await Eventually.HoldsAsync(() => prometheus.AlertsAsync(ct),
            a => a.Any(x => x.Name == "KeyRotatorJwksMissingActiveKey" && x.State == "firing"), TimeSpan.FromSeconds(60), "the broken set's alert firing", ct);
        var missing = alerts.Where(a => a.Name == "KeyRotatorJwksMissingActiveKey").ToList();
        var firing = Assert.Single(missing);
        Assert.Equal(broken, firing.Label("namespace"));
        Assert.Equal("auth", firing.Label("name"));
        Assert.DoesNotContain(missing, a => a.Label("namespace") == healthy || a.Label("namespace") == "keyrotator-system");
    }

    /// <summary>The ServiceMonitor the chart renders: the Service it scrapes, whether it keeps the series' own labels, the token it scrapes with.</summary>
    private static async Task<(string Service, bool HonorLabels, string? BearerTokenFile)> RenderServiceMonitorAsync()
    {
        var (code, output) = await Repository.RunAsync(Repository.Helm,
            ["template", "kr", Path.Combine(Repository.Root, "charts", "keyrotator"), "--namespace", "keyrotator-system", "--set", "serviceMonitor.enabled=true", "--show-only", "templates/servicemonitor.yaml"]);
        Assert.True(code == 0, output);
        var name = ServiceMonitorName().Match(output);
        Assert.True(name.Success, output);
        var honor = HonorLabelsSetting().Match(output);
        var tokenFile = BearerTokenFileSetting().Match(output);
        return (name.Groups[1].Value, honor.Success && honor.Groups[1].Value == "true", tokenFile.Success ? tokenFile.Groups[1].Value : null);
    }

    [GeneratedRegex(@"(?m)^\s+bearerTokenFile: (\S+)\s*$")]
    private static partial Regex BearerTokenFileSetting();

    [GeneratedRegex(@"(?m)^  name: (\S+)$")]
    private static partial Regex ServiceMonitorName();

    [GeneratedRegex(@"(?m)^\s+honorLabels: (true|false)\s*$")]
    private static partial Regex HonorLabelsSetting();

    private sealed class AlertRecorder : IAsyncDisposable
    {
        private readonly ConcurrentDictionary<(string Alert, string? Set), List<string>> _history = new();
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _polling;

        public AlertRecorder(PrometheusServer prometheus, string ns) => _polling = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    var now = (await prometheus.AlertsAsync(_stop.Token)).Where(a => a.Label("namespace") is null || a.Label("namespace") == ns).ToList();
                    foreach (var alert in now)
                        Append((alert.Name, alert.Label("name")), alert.State);
                    foreach (var key in _history.Keys.Where(k => !now.Any(a => a.Name == k.Alert && a.Label("name") == k.Set)))
                        Append(key, "resolved");
                }
                catch (Exception e) when (e is HttpRequestException or InvalidOperationException or TaskCanceledException)
                {
                }

                try
                {
                    await Task.Delay(500, _stop.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }
        });

        public void Clear() => _history.Clear();

        public IReadOnlyList<(string Alert, string? Set)> Seen(bool real) =>
            [.. _history.Keys.Where(k => k.Alert.StartsWith("Broken", StringComparison.Ordinal) != real)];

        public List<string> History(string alert, string? set)
        {
            if (!_history.TryGetValue((alert, set), out var states))
                return [];
            lock (states)
                return [.. states];
        }

        public bool HasFired(string alert, string? set) => History(alert, set).Contains("firing");

        public bool HasResolved(string alert, string? set)
        {
            var history = History(alert, set);
            return history.Contains("firing") && history[^1] == "resolved";
        }

        public string Describe() => string.Join('\n', _history.Keys.Select(k => $"  {k.Alert} {k.Set}: {string.Join(" → ", History(k.Alert, k.Set))}"));

        private void Append((string Alert, string? Set) key, string state)
        {
            var states = _history.GetOrAdd(key, _ => []);
            lock (states)
            {
                if (states.Count == 0 || states[^1] != state)
                    states.Add(state);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _polling;
            _stop.Dispose();
        }
    }
}
