using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using k8s;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Observability;

/// <summary>
/// Issue #32, item 1: two teams share one operator, each able to edit ConfigMaps and Secrets in its own
/// namespace only. Team B writes objects carrying the operator's labels that name team A's set; nothing
/// team A's set believes or does changes, and none of it wakes team A's set.
/// </summary>
public sealed partial class CrossTeamPropagationTests(KubernetesEnvironment env)
{
    [Fact]
    public async Task Team_B_labelled_ConfigMap_claiming_A_old_hash_holds_A_current_keys_does_not_activate_A_pending_key()
    {
        var ct = TestContext.Current.CancellationToken;
        var teamA = await env.CreateNamespaceAsync("team-a", ct);
        var teamB = await env.CreateNamespaceAsync("team-b", ct);
        var scenario = new OperatorScenario(env, teamA);
        await using var op = await OperatorInstance.StartAsync(env, [teamA, teamB], settings: new Dictionary<string, string?> { ["KeyRotator:Reports:PropagationWindow"] = "00:00:30" });
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", teamA)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "6s", Activation = "Confirmed", MaxActivationDelay = "10s", OnTimeout = "Wait" })
            .Build(), ct);
        var first = await scenario.WaitForActiveKeyAsync("auth");
        using var http = new HttpClient { BaseAddress = op.BaseAddress };
        var jwksPath = new Uri($"/v1/namespaces/{teamA}/signingkeysets/auth/jwks.json", UriKind.Relative);

        // What anyone may read: team A's JWKS and its ETag, before the rotation.
        var (_, oldHash) = await FetchAsync(http, jwksPath, ct);

        // Team A's verifier never reloads its JWKS: every second it reports the old hash.
        var token = await ServiceAccounts.TokenAsync(env, teamA, "verifier", "keyrotator", grantReporter: true);
        var held = oldHash;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var beating = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                Assert.Equal(HttpStatusCode.Accepted, await FailureReports.PostAsync(http, teamA, token, new { failures = Array.Empty<object>(), instance = "v1", jwksHash = held }, stop.Token));
                await Task.Delay(1000, stop.Token);
            }
        }, CancellationToken.None);
        try
        {
            await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.Propagation?.Verifiers == 1, TimeSpan.FromSeconds(15), "team A's verifier heard", ct);
            await scenario.EditAsync("auth", s => s.Metadata.Annotations = new Dictionary<string, string> { [Labels.RotateNowAnnotation] = "cross-team" }, ct);
            var pending = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.NextKeyId is not null, TimeSpan.FromSeconds(15), "a pending key", ct);
            var next = pending.Status!.NextKeyId!;
            var (current, currentHash) = await FetchAsync(http, jwksPath, ct);
            Assert.Contains(next, current, StringComparison.Ordinal);

            // Team B, in its own namespace: ConfigMaps labelled for team A's set, saying A's old hash holds A's
            // current keys; one of them even carries A's set UID (as if B had learnt it).
            using var asTeamB = await TeamClientAsync(env, teamB, ct);
            var uid = pending.Metadata.Uid;
            foreach (var (name, withUid) in new[] { ("auth-jwks", false), ("auth-jwks-uid", true) })
                await asTeamB.CoreV1.CreateNamespacedConfigMapAsync(Poisoned(teamA, name, oldHash, current, withUid ? uid : null), teamB, cancellationToken: ct);

            // What team A sees: past the due time and past maxActivationDelay the key still waits, and status
            // names the stale verifier (before the fix it activated as soon as it was due).
            var waiting = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"),
                s => ConditionSet.IsTrue(s.Status?.Conditions, ConditionSet.PropagationIncomplete) || s.Status?.ActiveKeyId == next, TimeSpan.FromSeconds(40), "PropagationIncomplete at the bound", ct);
            Assert.Equal(first.Status!.ActiveKeyId, waiting.Status!.ActiveKeyId);
            Assert.Equal(next, waiting.Status.NextKeyId);
            Assert.Equal(0, waiting.Status.Propagation!.VerifiersWithNextKey);
            Assert.Equal([$"system:serviceaccount:{teamA}:verifier/v1"], waiting.Status.Propagation.StaleVerifiers);
            var incomplete = ConditionSet.Find(waiting.Status.Conditions, ConditionSet.PropagationIncomplete)!;
            Assert.Equal("VerifiersStale", incomplete.Reason);
            Assert.Contains("onTimeout: Wait", incomplete.Message, StringComparison.Ordinal);
            Assert.Equal(first.Status.ActiveKeyId, (await scenario.SigningAsync("auth-signing")).Kid);

            // Team A's verifier reloads (the hash it computes is the ETag it was served): the key activates.
            held = currentHash;
            var activated = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.ActiveKeyId == next, TimeSpan.FromSeconds(20), "activation once the verifier holds the key", ct);
            Assert.Equal("False", ConditionSet.Find(activated.Status!.Conditions, ConditionSet.PropagationIncomplete)!.Status);
        }
        finally
        {
            await stop.CancelAsync();
            try
            {
                await beating;
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    [Fact]
    public async Task Labelled_objects_team_B_keeps_editing_in_its_own_namespace_never_wake_team_A_set()
    {
        var ct = TestContext.Current.CancellationToken;
        var teamA = await env.CreateNamespaceAsync("team-a", ct);
        var teamB = await env.CreateNamespaceAsync("team-b", ct);
        var scenario = new OperatorScenario(env, teamA);
        await using var op = await OperatorInstance.StartAsync(env, [teamA, teamB]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", teamA).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        var converged = await scenario.WaitForActiveKeyAsync("auth");
        var uid = converged.Metadata.Uid;
        using var http = new HttpClient { BaseAddress = op.BaseAddress };
        var before = await SettledReconcilesAsync(http, ct);
        var version = (await scenario.GetAsync("auth")).Metadata.ResourceVersion;

        // Team B creates and then edits, twenty times, ConfigMaps and Secrets labelled for team A's set: with
        // only the labels, and with team A's set UID in the annotation the operator writes.
        using var asTeamB = await TeamClientAsync(env, teamB, ct);
        var lastVersions = new Dictionary<string, string>();
        for (var round = 0; round < 20; round++)
        {
            foreach (var (name, withUid) in new[] { ("auth-jwks", false), ("auth-jwks-uid", true) })
            {
                var configMap = Poisoned(teamA, name, $"{round:x16}", $"{{\"keys\":[],\"round\":{round}}}", withUid ? uid : null);
                lastVersions[$"cm/{name}"] = (round == 0
                    ? await asTeamB.CoreV1.CreateNamespacedConfigMapAsync(configMap, teamB, cancellationToken: ct)
                    : await asTeamB.CoreV1.ReplaceNamespacedConfigMapAsync(WithVersion(configMap, lastVersions[$"cm/{name}"]), name, teamB, cancellationToken: ct)).Metadata.ResourceVersion;
            }

            var secret = new V1Secret
            {
                Metadata = new V1ObjectMeta
                {
                    Name = "auth-signing",
                    Labels = Labels.For(teamA, "auth", "signing"),
                    Annotations = new Dictionary<string, string> { [Labels.SetUidAnnotation] = uid },
                    ResourceVersion = round == 0 ? null : lastVersions["secret"],
                },
                StringData = new Dictionary<string, string> { ["round"] = round.ToString(CultureInfo.InvariantCulture) },
            };
            lastVersions["secret"] = (round == 0
                ? await asTeamB.CoreV1.CreateNamespacedSecretAsync(secret, teamB, cancellationToken: ct)
                : await asTeamB.CoreV1.ReplaceNamespacedSecretAsync(secret, "auth-signing", teamB, cancellationToken: ct)).Metadata.ResourceVersion;
        }

        // The operator has seen every edit (its cache holds the last versions) and its queue is empty...
        await Eventually.HoldsAsync(() => Task.FromResult(op.Cache.TryGetConfigMap(teamB, "auth-jwks-uid").ConfigMap?.Metadata.ResourceVersion), v => v == lastVersions["cm/auth-jwks-uid"], TimeSpan.FromSeconds(10), "team B's last ConfigMap in the operator's cache", ct);
        await Eventually.HoldsAsync(() => Task.FromResult(op.Cache.TryGetSecret(teamB, "auth-signing").Secret?.Metadata.ResourceVersion), v => v == lastVersions["secret"], TimeSpan.FromSeconds(10), "team B's last Secret in the operator's cache", ct);
        await op.WaitForQuietQueueAsync(ct);

        // ...and team A's set was not reconciled once, nor changed.
        Assert.Equal(before, await ReconcilesAsync(http, ct));
        Assert.Equal(version, (await scenario.GetAsync("auth")).Metadata.ResourceVersion);

        // Team A's own ConfigMap, edited, still wakes its set, which restores it.
        var own = await env.Admin.CoreV1.ReadNamespacedConfigMapAsync("auth-jwks", teamA, cancellationToken: ct);
        var published = own.Data["jwks.json"];
        own.Data["jwks.json"] = "{\"keys\":[]}";
        await env.Admin.CoreV1.ReplaceNamespacedConfigMapAsync(own, "auth-jwks", teamA, cancellationToken: ct);
        await Eventually.HoldsAsync(() => scenario.JwksJsonAsync("auth-jwks"), j => j == published, TimeSpan.FromSeconds(10), "team A's ConfigMap restored", ct);
        // The ConfigMap is restored inside the reconcile; the metric counts it when the reconcile has finished.
        await Eventually.HoldsAsync(() => ReconcilesAsync(http, ct), n => n > before, TimeSpan.FromSeconds(10), "the restore counted as a reconcile by the metric", ct);
    }

    /// <summary>A ConfigMap as team B writes it: the operator's labels for team A's set, a content hash of its choosing, a JWKS.</summary>
    internal static V1ConfigMap Poisoned(string teamA, string name, string hash, string jwks, string? uid)
    {
        var annotations = new Dictionary<string, string> { [Labels.ContentHashAnnotation] = hash };
        if (uid is not null)
            annotations[Labels.SetUidAnnotation] = uid;
        return new V1ConfigMap
        {
            Metadata = new V1ObjectMeta { Name = name, Labels = Labels.For(teamA, "auth", "jwks"), Annotations = annotations },
            Data = new Dictionary<string, string> { ["jwks.json"] = jwks },
        };
    }

    private static V1ConfigMap WithVersion(V1ConfigMap configMap, string resourceVersion)
    {
        configMap.Metadata.ResourceVersion = resourceVersion;
        return configMap;
    }

    /// <summary>
    /// Team B's identity: a service account that may edit ConfigMaps and Secrets in its own namespace and
    /// nothing elsewhere. On a cluster the tests did not start, the admin stands in.
    /// </summary>
    internal static async Task<IKubernetes> TeamClientAsync(KubernetesEnvironment environment, string ns, CancellationToken ct)
    {
        if (environment.ControlPlane is null)
            return new k8s.Kubernetes(environment.AdminConfig);
        await environment.Admin.RbacAuthorizationV1.CreateNamespacedRoleAsync(new V1Role
        {
            Metadata = new V1ObjectMeta { Name = "team-edit" },
            Rules = [new V1PolicyRule { ApiGroups = [""], Resources = ["configmaps", "secrets"], Verbs = ["get", "list", "watch", "create", "update", "patch", "delete"] }],
        }, ns, cancellationToken: ct);
        await environment.Admin.RbacAuthorizationV1.CreateNamespacedRoleBindingAsync(new V1RoleBinding
        {
            Metadata = new V1ObjectMeta { Name = "team-edit" },
            RoleRef = new V1RoleRef { ApiGroup = "rbac.authorization.k8s.io", Kind = "Role", Name = "team-edit" },
            Subjects = [new Rbacv1Subject { Kind = "ServiceAccount", Name = "team", NamespaceProperty = ns }],
        }, ns, cancellationToken: ct);
        var token = await ServiceAccounts.TokenAsync(environment, ns, "team", "https://kubernetes.default.svc");
        var client = new k8s.Kubernetes(environment.ControlPlane.ConfigFor(token));
        await Eventually.HoldsAsync(async () =>
        {
            try
            {
                await client.CoreV1.ListNamespacedConfigMapAsync(ns, cancellationToken: ct);
                return true;
            }
            catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Forbidden)
            {
                return false;
            }
        }, allowed => allowed, TimeSpan.FromSeconds(10), "team B's role in effect", ct);
        return client;
    }

    /// <summary>The JWKS as anyone fetches it, and the content hash its ETag names.</summary>
    private static async Task<(string Body, string Hash)> FetchAsync(HttpClient http, Uri path, CancellationToken ct)
    {
        using var response = await http.GetAsync(path, ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync(ct);
        var hash = response.Headers.ETag!.Tag.Trim('"');
        Assert.Equal(KeyRotator.Client.JwksSnapshot.HashOf(body), hash);
        return (body, hash);
    }

    /// <summary>Reconciles the operator has finished, as its /metrics says (keyrotator_reconcile_duration_seconds, every result).</summary>
    private async Task<long> ReconcilesAsync(HttpClient http, CancellationToken ct)
    {
        var metrics = await http.GetMetricsAsync(env, ct); // as Prometheus scrapes: /metrics needs a reader's token
        return ReconcileCount().Matches(metrics).Sum(m => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
    }

    /// <summary>The reconcile count once it has not moved for three seconds (the operator's own writes have come back).</summary>
    private async Task<long> SettledReconcilesAsync(HttpClient http, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        var count = await ReconcilesAsync(http, ct);
        while (DateTime.UtcNow < deadline)
        {
            await Task.Delay(TimeSpan.FromSeconds(3), ct);
            var now = await ReconcilesAsync(http, ct);
            if (now == count)
                return count;
            count = now;
        }

        throw new TimeoutException($"the operator kept reconciling for 30 s ({count} reconciles)");
    }

    [GeneratedRegex(@"^keyrotator_reconcile_duration_seconds_count\{[^}]*\} (\d+)", RegexOptions.Multiline)]
    private static partial Regex ReconcileCount();
}
