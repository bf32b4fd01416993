using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using Azure.Storage.Blobs;
using k8s;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Tests.Observability;
using KeyRotator.Operator.Tests.Publishing;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Chaos;

/// <summary>
/// Issue #32, acceptance: one built operator process serves two teams. For minutes team B runs the worst
/// of every item at once (the attacks of the per-item tests, see <see cref="TwoTeamAttacks"/>), while
/// team A rotates twice in Confirmed mode, revokes a key and publishes to a blob in the container both
/// teams are granted. Team A's guarantees hold, its first-time reporters are accepted, and the
/// operator's resident memory stays under the bound docs/operations.md states.
/// </summary>
[Collection(RealProcesses.Name)]
public sealed class TwoTeamSoakTests(KubernetesEnvironment env, AzuriteFixture azurite) : IClassFixture<AzuriteFixture>
{
    /// <summary>docs/operations.md, Multi-team clusters: the whole process, under every attack at once.</summary>
    private const long MemoryBoundBytes = 224L * 1024 * 1024;

    private static readonly TimeSpan AttackDuration = TimeSpan.FromMinutes(2.5);
    private static readonly TimeSpan PrePublish = TimeSpan.FromSeconds(6);
    private static readonly TimeSpan ReaderJitter = TimeSpan.FromMilliseconds(500); // the blob is read every 100 ms, the Secret watched

    [Fact]
    [Trait("Category", "Timing")] // a timing guarantee of the product, measured: see CONTRIBUTING.md, "Timing tests"
    public async Task Team_B_running_every_attack_at_once_for_minutes_leaves_team_A_rotating_revoking_and_publishing_within_its_guarantees()
    {
        var ct = TestContext.Current.CancellationToken;
        var victim = await env.CreateNamespaceAsync("soak-a", ct);
        var attacker = await env.CreateNamespaceAsync("soak-b", ct);
        var (container, target) = await BlobTargets.CreateAsync(env, victim, azurite.Server, victim, ct, alsoGrantedTo: [attacker]);
        var issuer = $"{BlobTargets.PublicUrl}/{victim}/auth";
        var (a, b) = (new OperatorScenario(env, victim), new OperatorScenario(env, attacker));
        await using var timeline = new RotationTimeline(env.Admin, victim, "auth-jwks", "auth-signing", new Uri($"{container.Uri}/{victim}/auth/.well-known/jwks.json"));
        await using var op = await OperatorProcess.StartServingAsync(env, "operator-soak", [victim, attacker],
            new Dictionary<string, string?> { ["KeyRotator:Reports:PropagationWindow"] = "00:00:20" }, environment: OperatorProcess.ImageEnvironment);
        var pid = op.ProcessId ?? throw new InvalidOperationException("the operator process is not running");
        using var http = new HttpClient { BaseAddress = op.BaseAddress };

        // Team A: Confirmed activation, its documents in its folder of the shared container.
        await a.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", victim)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "6s", Overlap = "20m", Activation = "Confirmed", MaxActivationDelay = "30s", OnTimeout = "Activate" })
            .WithSpec(s => s with { Jwks = new JwksSpec { Issuer = issuer }, Publish = [new PublishSpec { Target = target, Path = $"{victim}/auth" }] })
            .Build(), ct);
        var first = (await a.WaitForActiveKeyAsync("auth")).Status!.ActiveKeyId!;
        var oldHash = await HashAsync(victim, ct);

        // Team A's verifier heartbeats the JWKS it holds: always the current one.
        var verifier = await ServiceAccounts.TokenAsync(env, victim, "verifier", "keyrotator", grantReporter: true);
        var reporters = new List<string>();
        for (var i = 0; i < 20; i++)
            reporters.Add(await ServiceAccounts.TokenAsync(env, victim, $"new-verifier-{i:00}", "keyrotator", grantReporter: true));
        var heartbeatRefused = 0;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var heartbeat = TwoTeamAttacks.LoopAsync(async token =>
        {
            var code = await FailureReports.PostAsync(http, victim, verifier, new { failures = Array.Empty<object>(), instance = "v1", jwksHash = await HashAsync(victim, token) }, token);
            if (code != HttpStatusCode.Accepted)
                Interlocked.Increment(ref heartbeatRefused);
        }, TimeSpan.FromSeconds(1), stop.Token);
        await Eventually.HoldsAsync(() => a.GetAsync("auth"), s => s.Status?.Propagation?.Verifiers == 1, TimeSpan.FromSeconds(20), "team A's verifier heard", ct);

        // Team B: every attack at once, from its own namespace, until told to stop; memory sampled meanwhile.
        var attacks = await TwoTeamAttacks.ArrangeAsync(env, http, victim, attacker, target, oldHash, ct);
        var resident = new ConcurrentQueue<long>();
        var victimVerifiers = new ConcurrentQueue<int>();
        var clock = Stopwatch.StartNew();
        var running = attacks.Start(stop.Token).Append(TwoTeamAttacks.LoopAsync(async token =>
        {
            resident.Enqueue(ResidentBytes(pid));
            victimVerifiers.Enqueue((await a.GetAsync("auth")).Status?.Propagation?.Verifiers ?? 0);
        }, TimeSpan.FromSeconds(2), stop.Token)).ToList();
        try
        {
            // Past the review budget's burst: the token flood now meets only what refills each second.
            await Eventually.HoldsAsync(() => Task.FromResult(attacks.TokenFloodAnswers.GetValueOrDefault(HttpStatusCode.ServiceUnavailable)), n => n > 0, TimeSpan.FromSeconds(60), "the token flood spending the review budget", ct);

            // Team A's new verifiers report for the first time, each one a TokenReview, in the middle of the flood.
            var answers = new List<HttpStatusCode>();
            foreach (var token in reporters)
            {
                answers.Add(await FailureReports.PostAsync(http, victim, token, new { failures = Array.Empty<object>(), instance = "api-0" }, ct));
                await Task.Delay(400, ct);
            }

            // Two rotations in Confirmed mode, each activating on time (not at maxActivationDelay), then the previous key revoked.
            var second = await RotateAsync(a, "soak-1", ct);
            var third = await RotateAsync(a, "soak-2", ct);
            var revokedAt = timeline.Now;
            await a.EditAsync("auth", s => s.Spec = s.Spec with { RevokedKeyIds = [second] }, ct);
            await Eventually.HoldsAsync(() => Task.FromResult((timeline.Unpublished(second, revokedAt), GoneFromBlob(timeline, second, revokedAt))),
                t => t.Item1 is not null && t.Item2 is not null, TimeSpan.FromSeconds(30), "the revoked key out of the ConfigMap and the blob", ct);
            var fromConfigMap = timeline.Unpublished(second, revokedAt)!.Value - revokedAt;
            var fromBlob = GoneFromBlob(timeline, second, revokedAt)!.Value - revokedAt;
            var revoked = await Eventually.HoldsAsync(() => a.GetAsync("auth"), s => s.Status?.Keys?.Any(k => k.Kid == second && k.State == "Revoked") == true, TimeSpan.FromSeconds(30), "the key revoked in status", ct);
            Assert.Equal(third, revoked.Status!.ActiveKeyId);

            // Team B keeps going for the rest of the soak; team A's set stays Ready and signing with its key.
            while (clock.Elapsed < AttackDuration)
            {
                var set = await a.GetAsync("auth");
                Assert.True(ConditionSet.IsTrue(set.Status?.Conditions, ConditionSet.Ready), $"team A's set not Ready at {clock.Elapsed}: {ConditionSet.Find(set.Status?.Conditions, ConditionSet.Ready)?.Message}");
                Assert.Equal(third, set.Status!.ActiveKeyId);
                await Task.Delay(TimeSpan.FromSeconds(5), ct);
            }

            await stop.CancelAsync();
            await Task.WhenAll(running.Append(heartbeat));

            var accepted = answers.Count(c => c == HttpStatusCode.Accepted);
            Assert.True(accepted >= reporters.Count * 95 / 100, $"{accepted} of {reporters.Count} first-time reporters accepted during the flood ({attacks.Summary()}): {string.Join(", ", answers.Select(c => (int)c))}");
            Assert.True(fromConfigMap <= TimeSpan.FromSeconds(5), $"the revoked key left team A's ConfigMap {fromConfigMap} after the spec edit");
            Assert.True(fromBlob <= TimeSpan.FromSeconds(5), $"the revoked key left team A's blob {fromBlob} after the spec edit");
            AssertPublishedBeforeSigning(timeline, [first, second, third]);
            Assert.Equal(0, heartbeatRefused);
            Assert.True(victimVerifiers.Max() == 1, $"team A's set counted {victimVerifiers.Max()} verifiers: team B's made-up instances reached it");
            var most = resident.Max();
            var context = $"soak {clock.Elapsed}, most resident {most / (1024 * 1024)} MiB (samples {string.Join(", ", resident.Select(r => r / (1024 * 1024)))}), revocation {fromConfigMap} (ConfigMap) {fromBlob} (blob)";
            await attacks.AssertHeldAsync(b, container, victim, context, ct);
            Assert.True(most < MemoryBoundBytes, $"the operator held more than {MemoryBoundBytes / (1024 * 1024)} MiB resident: {context}");
            TestContext.Current.SendDiagnosticMessage($"{context}, {attacks.Summary()}");
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(running.Append(heartbeat)).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    /// <summary>Asks for a rotation and waits for the next key to sign, checking it activated on time: not before it was due, and confirmed by the verifiers rather than forced at maxActivationDelay.</summary>
    private static async Task<string> RotateAsync(OperatorScenario scenario, string request, CancellationToken ct)
    {
        var before = (await scenario.GetAsync("auth")).Status!.ActiveKeyId;
        await scenario.EditAsync("auth", s =>
        {
            s.Metadata.Annotations ??= new Dictionary<string, string>();
            s.Metadata.Annotations[Labels.RotateNowAnnotation] = request;
        }, ct);
        var pending = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.NextKeyId is not null && s.Status.ActiveKeyId == before, TimeSpan.FromSeconds(20), $"a pending key ({request})", ct);
        var next = pending.Status!.NextKeyId!;
        var due = pending.Status.Keys!.Single(k => k.Kid == next).ActivatesAt!.Value;
        var active = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.ActiveKeyId == next, TimeSpan.FromSeconds(60), $"the pending key active ({request})", ct);
        var at = active.Status!.Keys!.Single(k => k.Kid == next).ActivatedAt!.Value;
        Assert.True(at >= due, $"{next} activated at {at:O}, before it was due at {due:O}");
        // Forced at the bound, the activation would say so (PropagationIncomplete True, VerifiersStale); the
        // operator's word, not the test's clock, which a busy machine slows.
        Assert.NotEqual("True", ConditionSet.Find(active.Status.Conditions, ConditionSet.PropagationIncomplete)?.Status);
        return next;
    }

    /// <summary>Every kid was in the ConfigMap and the blob at least prePublish before it signed, and every signing kid was there while it signed.</summary>
    private static void AssertPublishedBeforeSigning(RotationTimeline timeline, string[] kids)
    {
        var activations = timeline.Activations();
        Assert.Equal(kids, activations.Select(x => x.Kid));
        foreach (var (kid, from) in activations.Skip(1))
        {
            Assert.True(from - timeline.FirstInBlob(kid) >= PrePublish - ReaderJitter, $"{kid} was in the blob {from - timeline.FirstInBlob(kid)} before it signed (prePublish {PrePublish})");
            Assert.True(from - timeline.FirstPublished(kid) >= PrePublish - ReaderJitter, $"{kid} was in the ConfigMap {from - timeline.FirstPublished(kid)} before it signed");
        }

        foreach (var (at, kid) in timeline.Signing)
        {
            Assert.Contains(kid, timeline.InBlobAt(at + ReaderJitter) ?? []);
            Assert.Contains(kid, timeline.PublishedAt(at + ReaderJitter) ?? []);
        }
    }

    private static TimeSpan? GoneFromBlob(RotationTimeline timeline, string kid, TimeSpan after) =>
        timeline.InBlob.Where(p => p.At > after && !p.Kids.Contains(kid)).Select(p => (TimeSpan?)p.At).FirstOrDefault();

    private async Task<string> HashAsync(string ns, CancellationToken ct) =>
        (await env.Admin.CoreV1.ReadNamespacedConfigMapAsync("auth-jwks", ns, cancellationToken: ct)).Metadata.Annotations[Labels.ContentHashAnnotation];

    private static long ResidentBytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }
}
