using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using k8s;
using k8s.Autorest;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Reconcile;

/// <summary>
/// The operator writes at the API server's pace. Under API priority and fairness rejections (429 with
/// Retry-After) it waits and sends again, and every set converges; with a client-side limit
/// (KeyRotator:Api:Qps and Burst) it never sends faster than that limit allows.
/// </summary>
[Collection(HeavyLoad.Name)]
public sealed partial class ApiPacingTests(KubernetesEnvironment env)
{
    private const string FlowControl = "flowcontrol.apiserver.k8s.io";
    private const string FlowControlVersion = "v1beta1";

    [Fact]
    public async Task Sets_converge_while_priority_and_fairness_rejects_the_operators_requests()
    {
        var ct = TestContext.Current.CancellationToken;

        // A control plane of its own that serves 4 requests at once in all (APF shares them out by
        // priority level), so that the test's level below gets a single seat.
        await using var small = KubernetesEnvironment.WithApiServerFlags("--max-requests-inflight=3", "--max-mutating-requests-inflight=1");
        await small.InitializeAsync();
        var ns = await small.CreateNamespaceAsync("apf", ct);
        var scenario = new OperatorScenario(small, ns);
        const int Sets = 30;
        for (var i = 0; i < Sets; i++)
            await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named($"set-{i:00}", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);

        // One seat that rejects rather than queues, for the operator's user in a group only this test's
        // client claims (the admin that arranges the test is exempt, as system:masters).
        var group = "keyrotator:throttled";
        await CreateFlowControlAsync(small, "keyrotator-throttled", group, ct);
        var impersonation = new Impersonate(ControlPlane.OperatorUser, group);

        // The rule is in force once a burst of plain requests (no retries) meets a 429.
        using (var plain = new k8s.Kubernetes(small.AdminConfig, new Impersonate(ControlPlane.OperatorUser, group)))
            await Eventually.HoldsAsync(() => BurstMeets429Async(plain, ns, ct), hit => hit, TimeSpan.FromSeconds(60), "a 429 from priority and fairness", ct);

        // /metrics served without reviews: this test's API server refuses the operator's requests on purpose.
        await using var op = await OperatorInstance.StartAsync(small, [ns], clientConfig: small.AdminConfig, handlers: [impersonation],
            settings: [new("KeyRotator:Workers", "8"), new("KeyRotator:Metrics:Authentication", "None")]);
        using var http = new HttpClient { BaseAddress = op.BaseAddress };
        for (var i = 0; i < Sets; i++)
            await scenario.WaitForActiveKeyAsync($"set-{i:00}", TimeSpan.FromMinutes(3));

        var metrics = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative), ct);
        Assert.True(impersonation.Rejected > 0, "the operator met no 429, so this test proves nothing");
        Assert.True(Throttled(metrics, "server") > 0, "429s were not waited out and retried:\n" + string.Join('\n', metrics.Split('\n').Where(l => l.StartsWith("keyrotator_api", StringComparison.Ordinal))));
    }

    [Fact]
    [Trait("Category", "Timing")] // a timing guarantee of the product, measured: see CONTRIBUTING.md, "Timing tests"
    public async Task A_client_side_limit_holds_the_request_rate_and_sets_still_converge()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("qps", ct);
        var scenario = new OperatorScenario(env, ns);
        const double Qps = 10;
        const int Burst = 5;
        const int Sets = 6;
        for (var i = 0; i < Sets; i++)
            await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named($"set-{i}", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);

        var recorder = new RequestTimes();
        await using var op = await OperatorInstance.StartAsync(env, [ns], handlers: [recorder], settings:
        [
            new("KeyRotator:Api:Qps", Qps.ToString(CultureInfo.InvariantCulture)),
            new("KeyRotator:Api:Burst", Burst.ToString(CultureInfo.InvariantCulture)),
            new("KeyRotator:Workers", "4"),
        ]);
        using var http = new HttpClient { BaseAddress = op.BaseAddress };
        for (var i = 0; i < Sets; i++)
            await scenario.WaitForActiveKeyAsync($"set-{i}", TimeSpan.FromMinutes(2));

        // In any stretch of time the paced requests number at most Burst + Qps × its length (the
        // bucket's guarantee); each stretch is measured between two requests the recorder saw.
        var times = recorder.Paced.OrderBy(t => t).ToList();
        Assert.True(times.Count > Burst * 2, $"only {times.Count} requests");
        for (var i = 0; i < times.Count; i++)
        {
            for (var j = i + 1; j < times.Count; j++)
            {
                var allowed = Burst + (Qps * (times[j] - times[i]).TotalSeconds) + 1;
                Assert.True(j - i + 1 <= allowed, $"{j - i + 1} requests within {(times[j] - times[i]).TotalSeconds:0.000}s; the limit allows {allowed:0.0}");
            }
        }

        var metrics = await http.GetMetricsAsync(env, ct);
        Assert.True(Throttled(metrics, "client") > 0, "no request waited for the client-side limit");
    }

    private static double Throttled(string metrics, string by) =>
        ThrottledLine().Matches(metrics).Where(m => m.Groups["by"].Value == by).Select(m => double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture)).DefaultIfEmpty(0).Sum();

    [GeneratedRegex("""^keyrotator_api_throttled_total\{by="(?<by>\w+)"\} (?<value>\S+)$""", RegexOptions.Multiline)]
    private static partial Regex ThrottledLine();

    private static async Task<bool> BurstMeets429Async(k8s.Kubernetes client, string ns, CancellationToken ct)
    {
        var results = await Task.WhenAll(Enumerable.Range(0, 40).Select(async _ =>
        {
            try
            {
                await client.CoreV1.ListNamespacedConfigMapAsync(ns, cancellationToken: ct);
                return false;
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                return true;
            }
        }));
        return results.Any(r => r);
    }

    private static async Task CreateFlowControlAsync(KubernetesEnvironment env, string name, string group, CancellationToken ct)
    {
        var level = JsonSerializer.Deserialize<JsonElement>("""
            {"apiVersion":"@FLOWCONTROL@/@FLOWCONTROLVERSION@","kind":"PriorityLevelConfiguration","metadata":{"name":"@NAME@"},
             "spec":{"type":"Limited","limited":{"assuredConcurrencyShares":1,"limitResponse":{"type":"Reject"}}}}
            """.Replace("@FLOWCONTROL@", FlowControl, StringComparison.Ordinal).Replace("@FLOWCONTROLVERSION@", FlowControlVersion, StringComparison.Ordinal)
            .Replace("@NAME@", name, StringComparison.Ordinal));
        var schema = JsonSerializer.Deserialize<JsonElement>("""
            {"apiVersion":"@FLOWCONTROL@/@FLOWCONTROLVERSION@","kind":"FlowSchema","metadata":{"name":"@NAME@"},
             "spec":{"priorityLevelConfiguration":{"name":"@NAME@"},"matchingPrecedence":200,"distinguisherMethod":{"type":"ByUser"},
               "rules":[{"subjects":[{"kind":"Group","group":{"name":"@GROUP@"}}],
                 "resourceRules":[{"verbs":["*"],"apiGroups":["*"],"resources":["*"],"clusterScope":true,"namespaces":["*"]}],
                 "nonResourceRules":[{"verbs":["*"],"nonResourceURLs":["*"]}]}]}}
            """.Replace("@FLOWCONTROL@", FlowControl, StringComparison.Ordinal).Replace("@FLOWCONTROLVERSION@", FlowControlVersion, StringComparison.Ordinal)
            .Replace("@NAME@", name, StringComparison.Ordinal).Replace("@GROUP@", group, StringComparison.Ordinal));
        await env.Admin.CustomObjects.CreateClusterCustomObjectAsync(level, FlowControl, FlowControlVersion, "prioritylevelconfigurations", cancellationToken: ct);
        await env.Admin.CustomObjects.CreateClusterCustomObjectAsync(schema, FlowControl, FlowControlVersion, "flowschemas", cancellationToken: ct);
    }

    /// <summary>Sends as the operator's user in one more group (the test's flow schema matches on it), and counts 429s.</summary>
    private sealed class Impersonate(string user, string group) : DelegatingHandler
    {
        private int _rejected;

        public int Rejected => _rejected;

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            request.Headers.Remove("Impersonate-User");
            request.Headers.Remove("Impersonate-Group");
            request.Headers.Add("Impersonate-User", user);
            request.Headers.Add("Impersonate-Group", group);
            var response = await base.SendAsync(request, cancellationToken);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
                Interlocked.Increment(ref _rejected);
            return response;
        }
    }

    /// <summary>When each request the client-side limit applies to (not watches, not Leases) reached the wire.</summary>
    private sealed class RequestTimes : DelegatingHandler
    {
        public ConcurrentBag<DateTimeOffset> Paced { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var uri = request.RequestUri!;
            if (!uri.Query.Contains("watch=true", StringComparison.Ordinal) && !uri.AbsolutePath.Contains("/leases", StringComparison.Ordinal))
                Paced.Add(TimeProvider.System.GetUtcNow());
            return base.SendAsync(request, cancellationToken);
        }
    }
}
