using System.Collections.Concurrent;
using System.Net;
using Azure.Storage.Blobs;
using k8s;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Observability;
using KeyRotator.Operator.Tests.Observability;
using KeyRotator.Operator.Tests.Publishing;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Chaos;

/// <summary>
/// Team B's side of the two-team soak: the attacks of issue #32's per-item tests, each a loop that runs
/// until cancelled. Poisoned labelled ConfigMaps (CrossTeamPropagationTests), zero-count report floods
/// (ReportFloodTests), path squatting (PathOwnershipTests), a spec at every maximum edited every second
/// (StatusBoundsTests), a flood of fresh tokens and made-up instance names on JWKS fetches (FairBudgetTests).
/// Refusals and conflicts are part of an attack; each loop counts what it was answered.
/// </summary>
internal sealed class TwoTeamAttacks
{
    private readonly ConcurrentQueue<string> _tokens = new();
    private readonly ConcurrentDictionary<string, int> _counts = new();
    private (string Name, TimeSpan Pause, Func<CancellationToken, Task> Step)[] _loops = [];

    private TwoTeamAttacks()
    {
    }

    /// <summary>What the victim's report endpoint answered team B's fresh tokens.</summary>
    public ConcurrentDictionary<HttpStatusCode, int> TokenFloodAnswers { get; } = new();

    /// <summary>Creates team B's sets, identities and poisoned ConfigMaps; nothing runs until <see cref="Start"/>.</summary>
    public static async Task<TwoTeamAttacks> ArrangeAsync(KubernetesEnvironment env, HttpClient http, string victim, string attacker, string target, string victimOldHash, CancellationToken ct)
    {
        var attacks = new TwoTeamAttacks();
        var b = new OperatorScenario(env, attacker);
        var victimUid = (await new OperatorScenario(env, victim).GetAsync("auth")).Metadata.Uid;
        var victimIssuer = $"{BlobTargets.PublicUrl}/{victim}/auth";

        // Team B's own set (its reports and callers), its squatters, and its set at the spec's maximum.
        await b.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", attacker).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        await b.Sets.CreateAsync(Squatter("squat", attacker, target, $"{victim}/auth", victimIssuer), ct);
        await b.Sets.CreateAsync(Squatter("claim", attacker, target, $"{attacker}/auth", victimIssuer), ct);
        await b.Sets.CreateAsync(SigningKeySetBuilder.Named("wide", attacker)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { Jwks = new JwksSpec { TargetNamespaces = WideTargets(victim, 0) } })
            .Build(), ct);
        await b.WaitForActiveKeyAsync("auth");

        var asTeamB = await CrossTeamPropagationTests.TeamClientAsync(env, attacker, ct);
        var jwksPath = new Uri($"/v1/namespaces/{victim}/signingkeysets/auth/jwks.json", UriKind.Relative);
        var current = await http.GetStringAsync(jwksPath, ct);
        foreach (var (name, withUid) in new[] { ("poison-jwks", false), ("poison-jwks-uid", true) })
            await asTeamB.CoreV1.CreateNamespacedConfigMapAsync(CrossTeamPropagationTests.Poisoned(victim, name, victimOldHash, current, withUid ? victimUid : null), attacker, cancellationToken: ct);

        var flooders = new List<string>();
        for (var i = 0; i < 3; i++)
            flooders.Add(await ServiceAccounts.TokenAsync(env, attacker, $"flooder-{i}", "keyrotator", grantReporter: true));
        var gateway = await ServiceAccounts.TokenAsync(env, attacker, "gateway", "keyrotator", grantReporter: true);
        await ServiceAccounts.TokenAsync(env, attacker, "minter", "keyrotator");
        string[] reasons = ["unknown_kid", "bad_signature", "alg_rejected", "expired", "not_yet_valid", "audience", "issuer", "lifetime", "malformed"];
        var round = 0;
        var minted = 0;
        var instance = 0;

        attacks._loops =
        [
            // Labelled ConfigMaps in team B's namespace (beside its own set's), naming team A's set, pairing its old hash with its current keys; edited twice a second.
            ("poison", TimeSpan.FromMilliseconds(500), async token =>
            {
                var keys = await http.GetStringAsync(jwksPath, token);
                foreach (var (name, withUid) in new[] { ("poison-jwks", false), ("poison-jwks-uid", true) })
                {
                    V1ConfigMap configMap;
                    try
                    {
                        configMap = await asTeamB.CoreV1.ReadNamespacedConfigMapAsync(name, attacker, cancellationToken: token);
                    }
                    catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
                    {
                        // Team A's set deletes it as a copy it no longer wants (the one naming A's UID): team B writes it again.
                        attacks.Count($"poison-gone-{name}");
                        await asTeamB.CoreV1.CreateNamespacedConfigMapAsync(CrossTeamPropagationTests.Poisoned(victim, name, victimOldHash, keys, withUid ? victimUid : null), attacker, cancellationToken: token);
                        continue;
                    }

                    configMap.Data["jwks.json"] = keys;
                    configMap.Metadata.Annotations["round"] = Interlocked.Increment(ref round).ToString(System.Globalization.CultureInfo.InvariantCulture);
                    await asTeamB.CoreV1.ReplaceNamespacedConfigMapAsync(configMap, name, attacker, cancellationToken: token);
                }

                attacks.Count("poisoned-edits");
            }),
            // Reports of 1,000 entries, ever new kids, mostly zero counts, from three reporters of team B's own set.
            ("reports", TimeSpan.FromMilliseconds(300), async token =>
            {
                var n = attacks.Count("report-floods");
                var failures = Enumerable.Range(0, 1000).Select(i => new { reason = reasons[i % reasons.Length], kid = $"f{n}-{i}", count = i % 4 == 0 ? 1 : 0 }).ToArray();
                var code = await FailureReports.PostAsync(http, attacker, flooders[n % flooders.Count], new { failures }, token);
                attacks.Count($"report-flood-{(int)code}");
            }),
            // The squatters touched every second, so that they are reconciled (and refused) again and again.
            ("squat", TimeSpan.FromSeconds(1), async token =>
            {
                var n = attacks.Count("squat-edits");
                await b.EditAsync(n % 2 == 0 ? "squat" : "claim", s => s.Metadata.Annotations = new Dictionary<string, string> { ["touched"] = $"{n}" }, token);
            }),
            // 100 target namespaces (team A's among them) of 63 characters, one of them changed every second.
            ("wide", TimeSpan.FromSeconds(1), async token =>
            {
                var n = attacks.Count("wide-edits");
                await b.EditAsync("wide", s => s.Spec = s.Spec with { Jwks = new JwksSpec { TargetNamespaces = WideTargets(victim, n) } }, token);
            }),
            // Fresh tokens of team B's own service account (each a TokenReview), minted as fast as the API server gives them...
            ("mint", TimeSpan.FromMilliseconds(20), async token =>
            {
                if (attacks._tokens.Count > 400)
                    return;
                var i = Interlocked.Increment(ref minted);
                var minting = Enumerable.Range(0, 4).Select(async j => (await env.Admin.CoreV1.CreateNamespacedServiceAccountTokenAsync(new Authenticationv1TokenRequest
                {
                    // (Tokens minted in one second are identical unless something differs: each one lives a second longer.)
                    Spec = new V1TokenRequestSpec { Audiences = ["keyrotator"], ExpirationSeconds = 3600 + (i * 4) + j },
                }, "minter", attacker, cancellationToken: token)).Status.Token);
                foreach (var fresh in await Task.WhenAll(minting))
                    attacks._tokens.Enqueue(fresh);
            }),
            // ...and sent to team A's report endpoint, from four senders.
            .. Enumerable.Range(0, 4).Select(_ => ("tokens", TimeSpan.FromMilliseconds(25), (Func<CancellationToken, Task>)(async token =>
            {
                if (!attacks._tokens.TryDequeue(out var fresh))
                    return;
                var code = await FailureReports.PostAsync(http, victim, fresh, new { failures = Array.Empty<object>(), instance = "flood" }, token);
                attacks.TokenFloodAnswers.AddOrUpdate(code, 1, (_, n) => n + 1);
            }))),
            // JWKS fetches by team B's gateway under ever new made-up instance names, of team B's set and of team A's.
            .. Enumerable.Range(0, 2).Select(_ => ("callers", TimeSpan.FromMilliseconds(20), (Func<CancellationToken, Task>)(async token =>
            {
                var i = Interlocked.Increment(ref instance);
                using var request = new HttpRequestMessage(HttpMethod.Get, i % 2 == 0 ? jwksPath : new Uri($"/v1/namespaces/{attacker}/signingkeysets/auth/jwks.json", UriKind.Relative));
                request.Headers.Authorization = new("Bearer", gateway);
                request.Headers.Add(KeyRotator.Operator.Serving.JwksEndpoint.InstanceHeader, $"made-up-{i:000000}");
                using var response = await http.SendAsync(request, token);
                attacks.Count($"caller-fetch-{(int)response.StatusCode}");
            }))),
        ];
        return attacks;
    }

    /// <summary>Every attack, each looping until <paramref name="ct"/> is cancelled.</summary>
    public IEnumerable<Task> Start(CancellationToken ct) =>
        _loops.Select(loop => LoopAsync(async token =>
        {
            try
            {
                await loop.Step(token);
            }
            catch (k8s.Autorest.HttpOperationException e)
            {
                Count($"refused-{loop.Name}-{(int)e.Response.StatusCode}");
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Count($"refused-{loop.Name}-{e.GetType().Name}");
            }
        }, loop.Pause, ct)).ToList();

    /// <summary>Runs <paramref name="step"/> every <paramref name="pause"/> until <paramref name="ct"/> is cancelled; a step's exception ends the loop and fails the test.</summary>
    public static Task LoopAsync(Func<CancellationToken, Task> step, TimeSpan pause, CancellationToken ct) => Task.Run(async () =>
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await step(ct);
                await Task.Delay(pause, ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }, CancellationToken.None);

    /// <summary>What each attack was answered, for failure messages.</summary>
    public string Summary() =>
        string.Join(", ", _counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key} {c.Value}")
            .Concat(TokenFloodAnswers.OrderBy(c => c.Key).Select(c => $"token-flood-{(int)c.Key} {c.Value}")));

    /// <summary>Each attack was a real one, and what team B gained by it is what the per-item tests say: nothing of team A's.</summary>
    public async Task AssertHeldAsync(OperatorScenario b, BlobContainerClient container, string victim, string context, CancellationToken ct)
    {
        var summary = $"{Summary()}; {context}";
        Assert.True(_counts.GetValueOrDefault("poisoned-edits") >= 50, summary);
        Assert.True(_counts.GetValueOrDefault("report-flood-202") >= 20, summary);
        Assert.True(_counts.GetValueOrDefault("wide-edits") >= 50, summary);
        Assert.True(_counts.GetValueOrDefault("squat-edits") >= 50, summary);
        Assert.True(TokenFloodAnswers.GetValueOrDefault(HttpStatusCode.ServiceUnavailable) > 100, summary);
        Assert.True(_counts.GetValueOrDefault("caller-fetch-200") > PropagationTracker.MaxCallersPerSet, summary);

        foreach (var squatter in new[] { "squat", "claim" })
            Assert.Equal(Reasons.PublishTargetNotGranted, ConditionSet.Find((await b.GetAsync(squatter)).Status?.Conditions, ConditionSet.Ready)?.Reason);
        var wide = await b.GetAsync("wide");
        var degraded = ConditionSet.Find(wide.Status?.Conditions, ConditionSet.Degraded);
        Assert.Equal(Reasons.CopiesSkipped, degraded?.Reason);
        Assert.True(degraded!.Message.Length <= StatusMessage.MaxConditionLength, $"{degraded.Message.Length} characters");
        await foreach (var blob in container.GetBlobsAsync(cancellationToken: ct))
            Assert.StartsWith($"{victim}/auth/", blob.Name, StringComparison.Ordinal);
    }

    private int Count(string what) => _counts.AddOrUpdate(what, 1, (_, n) => n + 1) - 1;

    private static List<string> WideTargets(string victim, int round) =>
        [victim, .. Enumerable.Range(0, SpecBounds.MaxTargetNamespaces - 1).Select(i => $"made-up-{(i == 0 ? round : i):D6}-{new string('x', 48)}")];

    private static V1Alpha1SigningKeySet Squatter(string name, string ns, string target, string path, string issuer) =>
        SigningKeySetBuilder.Named(name, ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "3s", Overlap = "20m" })
            .WithSpec(s => s with { Jwks = new JwksSpec { Issuer = issuer }, Publish = [new PublishSpec { Target = target, Path = path }] })
            .Build();
}
