using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using k8s;
using k8s.Models;
using KeyRotator.Core.Jose;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Core.Model;
using KeyRotator.Core.Time;
using KeyRotator.Operator.Entities;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Publishing;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Chaos;

/// <summary>
/// Two processes of the built operator share a Lease; for three minutes one of them is SIGKILLed
/// every 5–15 s and started again, while five sets rotate every 20 s (one with a JWKS copy in another
/// namespace, one on SoftHSM2). A watcher polls the JWKS ConfigMaps, the signing Secrets, the key
/// stores and the sets, and checks the lifecycle invariants (design §2) on every poll.
/// </summary>
[Collection(RealProcesses.Name)]
public sealed class ChaosTests(KubernetesEnvironment env)
{
    private static readonly TimeSpan ChaosDuration = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan PrePublish = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Overlap = TimeSpan.FromSeconds(8);
    private static readonly TimeSpan MaxTokenLifetime = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan ClockSkew = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task Replicas_SIGKILLed_every_5_to_15_seconds_for_three_minutes_break_no_invariant_and_lose_or_duplicate_no_key()
    {
        var ct = TestContext.Current.CancellationToken;
        var plane = env.ControlPlane;
        Assert.SkipWhen(plane is null, "needs the envtest control plane (its operator credentials) to run operator processes");
        Assert.SkipWhen(SoftHsm.Unavailable is not null, SoftHsm.Unavailable ?? "");
        SoftHsm.EnsureToken(); // SOFTHSM2_CONF is inherited by the operator processes

        var ns = await env.CreateNamespaceAsync("chaos", ct);
        await env.GrantVaultAsync(ns, pkcs11: new Pkcs11Grant { Library = SoftHsm.Library, TokenLabel = SoftHsm.TokenLabel }, cancellationToken: ct);
        var target = await env.CreateNamespaceAcceptingJwksFromAsync("chaos-copy", ns, ct);
        await env.Admin.CoreV1.CreateNamespacedSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = "hsm-pin" },
            StringData = new Dictionary<string, string> { ["pin"] = SoftHsm.UserPin },
        }, ns, cancellationToken: ct);

        var sets = new[]
        {
            Set("copy", ns, "ES256").WithSpec(s => s with { Jwks = new JwksSpec { TargetNamespaces = [target] } }),
            Set("rsa", ns, "RS256", 2048),
            Set("es384", ns, "ES384"),
            Set("plain", ns, "ES256"),
            Set("hsm", ns, "ES256").WithSpec(s => s with
            {
                Vault = new VaultSpec
                {
                    Provider = "Pkcs11",
                    Pkcs11 = new Pkcs11Spec { Library = SoftHsm.Library, TokenLabel = SoftHsm.TokenLabel, PinSecretRef = new SecretKeySelector { Name = "hsm-pin", Key = "pin" } },
                },
            }),
        }.Select(b => b.Build()).ToList();

        var kubeconfig = plane.OperatorKubeconfigPath;
        await using var a = new OperatorProcess(env, "replica-a", kubeconfig, [ns, target], OperatorInstance.FastFailover);
        await using var b = new OperatorProcess(env, "replica-b", kubeconfig, [ns, target], OperatorInstance.FastFailover);
        var replicas = new[] { a, b };

        var watcher = new InvariantWatcher(env.Admin, ns, target, [.. sets.Select(s => s.Metadata.Name)]);
        using var stopWatching = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var watching = Task.Run(() => watcher.RunAsync(stopWatching.Token), CancellationToken.None);

        a.Start();
        b.Start();
        var client = new SigningKeySetClient(env.Admin);
        foreach (var set in sets)
            await client.CreateAsync(set, ct);
        var scenario = new OperatorScenario(env, ns);
        foreach (var set in sets)
            await scenario.WaitForActiveKeyAsync(set.Metadata.Name, TimeSpan.FromSeconds(90));

        // The chaos: every 5–15 s (kill to kill) one replica, the Lease holder two times in three, dies by SIGKILL
        // and starts again: at once or within 4 s (a restarted leader wins its own Lease back under the same
        // identity), or, when the interval allows, after 7 s or more, longer than the 6 s lease (the other
        // replica takes over).
        var random = new Random(20261128);
        var kills = new List<string>();
        var holders = new HashSet<string>();
        var chaosEnd = DateTimeOffset.UtcNow + ChaosDuration;
        var interval = TimeSpan.FromMilliseconds(random.Next(5_000, 15_001));
        await Task.Delay(interval, ct);
        while (DateTimeOffset.UtcNow < chaosEnd)
        {
            var holder = await LeaseHolderAsync(ns, ct);
            var leader = replicas.FirstOrDefault(r => r.Identity == holder);
            var victim = leader is not null && random.Next(3) != 0 ? leader : replicas[random.Next(2)];
            await victim.KillAsync();
            var killedAt = DateTimeOffset.UtcNow;
            var ms = (int)interval.TotalMilliseconds;
            interval = TimeSpan.FromMilliseconds(random.Next(5_000, 15_001));
            var next = (int)interval.TotalMilliseconds;
            var down = TimeSpan.FromMilliseconds(random.Next(3) switch
            {
                0 => 0,
                1 => random.Next(1_000, Math.Min(4_000, next - 1_000)),
                _ when next >= 9_000 => random.Next(7_000, next - 2_000),
                _ => random.Next(1_000, next - 1_000),
            });
            kills.Add($"{killedAt:HH:mm:ss.fff} {victim.Identity}{(victim == leader ? " (leader)" : "")} after {ms / 1000.0:0.0} s, down {down.TotalSeconds:0.0} s");
            holders.Add(holder ?? "none");
            await Task.Delay(down, ct);
            victim.Start();
            await Task.Delay(killedAt + interval - DateTimeOffset.UtcNow is { } rest && rest > TimeSpan.Zero ? rest : TimeSpan.Zero, ct);
        }

        // Calm: every set converges (Ready, the status's active key is the one signing) under the last pair of replicas.
        foreach (var set in sets)
        {
            var name = set.Metadata.Name;
            await Eventually.HoldsAsync(async () => (await scenario.GetAsync(name), (await env.Admin.CoreV1.ReadNamespacedSecretAsync($"{name}-signing", ns, cancellationToken: ct)).Data),
                x => x.Item1.Status?.ActiveKeyId is { } kid && ConditionSet.IsTrue(x.Item1.Status.Conditions, ConditionSet.Ready)
                    && Encoding.UTF8.GetString(x.Data[SigningSecretPublisher.KidKey]) == kid,
                TimeSpan.FromSeconds(60), $"{name} converging after the chaos", ct);
        }

        await Task.Delay(TimeSpan.FromSeconds(1), ct);
        await stopWatching.CancelAsync();
        await watching;

        var report = watcher.Report();
        var context = $"\nkills ({kills.Count}):\n{string.Join('\n', kills)}\n\n{report}\nreplica-a:\n{a.Tail(15)}\nreplica-b:\n{b.Tail(15)}";
        TestContext.Current.TestOutputHelper?.WriteLine(context);
        Assert.True(watcher.Violations.IsEmpty, $"invariants broken:\n{string.Join('\n', watcher.Violations.Take(30))}{context}");
        Assert.True(kills.Count >= 12, $"only {kills.Count} kills in {ChaosDuration}{context}");
        Assert.True(holders.Contains(a.Identity) && holders.Contains(b.Identity), $"the Lease never changed hands{context}");
        Assert.True(a.Starts + b.Starts >= kills.Count + 2, context);
        Assert.True(watcher.Polls > 300, $"the watcher polled only {watcher.Polls} times{context}");
        foreach (var set in sets)
        {
            var name = set.Metadata.Name;
            var generations = watcher.GenerationsOf(name);
            // No key lost: generations 1..max were all seen, and enough rotations happened despite the kills.
            Assert.True(generations.SequenceEqual(Enumerable.Range(1, generations.Count).Select(g => (long)g)),
                $"{name}: generations seen {string.Join(",", generations)}{context}");
            Assert.True(generations.Count >= 5, $"{name}: only {generations.Count} generations in {ChaosDuration} of 20 s rotations{context}");
            Assert.True(watcher.SigningKidsSeen(name) >= generations.Count - 1, $"{name}: {watcher.SigningKidsSeen(name)} signing kids seen for {generations.Count} generations{context}");
        }

        Assert.True(watcher.TokensVerified >= 20, $"only {watcher.TokensVerified} tokens verified against earlier JWKS{context}");
    }

    private static SigningKeySetBuilder Set(string name, string ns, string algorithm, int? rsaKeySize = null) =>
        SigningKeySetBuilder.Named(name, ns)
            .WithAlgorithm(algorithm, rsaKeySize)
            .WithSpec(s => s with
            {
                MaxTokenLifetime = GoDuration.Format(MaxTokenLifetime),
                ClockSkew = GoDuration.Format(ClockSkew),
                Rotation = new RotationSpec { Interval = "20s", PrePublish = GoDuration.Format(PrePublish), Overlap = GoDuration.Format(Overlap) },
            });

    private async Task<string?> LeaseHolderAsync(string ns, CancellationToken ct)
    {
        try
        {
            return (await env.Admin.CoordinationV1.ReadNamespacedLeaseAsync("keyrotator-leader", ns, cancellationToken: ct)).Spec.HolderIdentity;
        }
        catch (k8s.Autorest.HttpOperationException)
        {
            return null;
        }
    }

    /// <summary>
    /// Polls everything a user can see of the sets and checks the invariants on each poll. Each check
    /// is sound against polling: it uses the time a request was sent or answered, whichever makes a
    /// violation certain rather than possible.
    /// </summary>
    private sealed class InvariantWatcher(IKubernetes admin, string ns, string target, IReadOnlyList<string> names)
    {
        private const string Issuer = "https://chaos.example";
        private const string Audience = "chaos";
        private readonly Dictionary<string, SetHistory> _sets = names.ToDictionary(n => n, n => new SetHistory(n));
        private readonly ConcurrentQueue<string> _violations = new();

        public ConcurrentQueue<string> Violations => _violations;

        public int Polls { get; private set; }

        public int TokensVerified { get; private set; }

        public IReadOnlyList<long> GenerationsOf(string name) => [.. _sets[name].KidOfGeneration.Keys.Order()];

        public int SigningKidsSeen(string name) => _sets[name].FirstSignedAt.Count;

        public string Report() => string.Join('\n', _sets.Values.Select(s =>
            $"{s.Name}: generations {string.Join(",", s.KidOfGeneration.Keys.Order())}, signing kids {s.FirstSignedAt.Count}"));

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    await PollAsync(cancellationToken);
                    Polls++;
                    await Task.Delay(200, cancellationToken);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e) when (e is k8s.Autorest.HttpOperationException or HttpRequestException)
                {
                    _violations.Enqueue($"{DateTimeOffset.UtcNow:HH:mm:ss.fff} the watcher could not read: {e.Message}");
                }
            }
        }

        private void Violation(string set, DateTimeOffset at, string what) => _violations.Enqueue($"{at:HH:mm:ss.fff} {set}: {what}");

        private async Task PollAsync(CancellationToken ct)
        {
            // Signing Secrets (and key stores) first, then the JWKS, then the sets: a key leaves the JWKS only
            // long after it stops signing, and is in the JWKS long before it signs, so this order makes
            // "the signing key is published" a certainty to check rather than a race.
            var sent = DateTimeOffset.UtcNow;
            var secrets = (await admin.CoreV1.ListNamespacedSecretAsync(ns, labelSelector: Labels.ManagedBySelector, cancellationToken: ct)).Items;
            var jwksSent = DateTimeOffset.UtcNow;
            var configMaps = (await admin.CoreV1.ListNamespacedConfigMapAsync(ns, labelSelector: Labels.ManagedBySelector, cancellationToken: ct)).Items
                .Concat((await admin.CoreV1.ListNamespacedConfigMapAsync(target, labelSelector: Labels.ManagedBySelector, cancellationToken: ct)).Items)
                .ToList();
            var jwksAt = DateTimeOffset.UtcNow;
            var sets = (await new SigningKeySetClient(admin).ListAsync(ns, ct)).Items;

            foreach (var history in _sets.Values)
            {
                var name = history.Name;
                var signing = secrets.FirstOrDefault(s => s.Metadata.Name == $"{name}-signing");
                string? Signing(string key) => signing?.Data?.TryGetValue(key, out var v) == true ? Encoding.UTF8.GetString(v) : null;
                var kid = Signing(SigningSecretPublisher.KidKey);
                var views = configMaps
                    .Where(c => c.Metadata.Name == $"{name}-jwks")
                    .Select(c => (Where: c.Metadata.NamespaceProperty, Json: c.Data?.TryGetValue(JwksPublisher.JwksKey, out var json) == true ? json : null))
                    .Where(v => v.Json is not null)
                    .ToDictionary(v => v.Where, v => new JwksView(jwksAt, v.Json!, [.. JwksDocument.Parse(v.Json!).Keys.Select(k => k.Kid)]));
                var set = sets.FirstOrDefault(s => s.Metadata.Name == name);
                if (kid is null)
                    continue; // not yet made

                var expectedViews = name == "copy" ? 2 : 1;
                if (views.Count != expectedViews)
                    Violation(name, jwksAt, $"a key signs but {expectedViews - views.Count} JWKS ConfigMap(s) are missing ({string.Join(",", views.Keys)})");

                // Invariant 1: the key that signs is in every JWKS copy.
                foreach (var (where, view) in views)
                {
                    if (!view.Kids.Contains(kid))
                        Violation(name, jwksAt, $"signing kid {kid} is not in the JWKS in {where} ({string.Join(",", view.Kids)})");
                }

                // Invariant 11: the status's active key is in every JWKS copy.
                if (set?.Status?.ActiveKeyId is { } active)
                {
                    foreach (var (where, view) in views)
                    {
                        if (!view.Kids.Contains(active))
                            Violation(name, jwksAt, $"status.activeKeyId {active} is not in the JWKS in {where}");
                    }
                }

                // Invariant 2 and the acceptance's token check: a key that starts signing was in the JWKS a
                // watcher held prePublish − 1 s earlier, and a token signed with it verifies against that JWKS.
                if (!history.FirstSignedAt.ContainsKey(kid))
                {
                    history.FirstSignedAt[kid] = sent;
                    if (history.FirstSignedAt.Count > 1)
                    {
                        foreach (var where in views.Keys)
                        {
                            var earlier = history.ViewAt(where, sent - (PrePublish - TimeSpan.FromSeconds(1)));
                            if (earlier is null)
                            {
                                Violation(name, sent, $"no JWKS in {where} was held {PrePublish - TimeSpan.FromSeconds(1)} before kid {kid} signed");
                                continue;
                            }

                            if (!earlier.Kids.Contains(kid))
                                Violation(name, sent, $"kid {kid} signs but was not in the JWKS in {where} held at {earlier.At:HH:mm:ss.fff} ({string.Join(",", earlier.Kids)})");
                            else if (Signing(SigningSecretPublisher.PrivateKeyKey) is { } pem)
                                await VerifyAsync(name, kid, pem, Signing(SigningSecretPublisher.AlgKey)!, earlier, sent);
                        }
                    }
                }

                // Invariant 3, as a verifier sees it: a token signed while the signing Secret held a key
                // verifies for its whole lifetime (maxTokenLifetime + clockSkew) against every JWKS copy.
                history.Signed.Add((kid, sent));
                history.Signed.RemoveAll(s => s.At < jwksAt - MaxTokenLifetime - ClockSkew - TimeSpan.FromSeconds(5));
                foreach (var (where, view) in views)
                {
                    foreach (var (signedKid, at) in history.Signed.Where(s => s.At >= jwksSent - MaxTokenLifetime - ClockSkew))
                    {
                        if (!view.Kids.Contains(signedKid))
                            Violation(name, jwksAt, $"kid {signedKid}, signing at {at:HH:mm:ss.fff}, is gone from the JWKS in {where} before its tokens expire");
                    }

                    // Invariant 3, overlap: a key that stopped signing stays at least `overlap`; and once gone, it never returns.
                    if (history.Views.TryGetValue(where, out var previous) && previous.Count > 0)
                    {
                        foreach (var gone in previous[^1].Kids.Except(view.Kids))
                        {
                            history.Removed.Add((where, gone));
                            if (history.LastSignedAt.TryGetValue(gone, out var lastSigned) && jwksAt - lastSigned < Overlap)
                                Violation(name, jwksAt, $"kid {gone} left the JWKS in {where} within {jwksAt - lastSigned} of last signing (overlap {Overlap})");
                        }

                        foreach (var back in view.Kids.Where(k => history.Removed.Contains((where, k))))
                            Violation(name, jwksAt, $"kid {back} was published again in {where} after it had left the JWKS");
                    }

                    history.Record(where, view);
                }

                history.LastSignedAt[kid] = sent;

                // Invariant 6: one kid per generation, ever; no generation twice in status or the store; signing never goes back.
                foreach (var key in set?.Status?.Keys ?? [])
                    history.Bind(key.Generation, key.Kid, jwksAt, Violation);
                if (set?.Status?.Keys is { } keys && keys.Select(k => k.Generation).Distinct().Count() != keys.Count)
                    Violation(name, jwksAt, $"a generation twice in status: {string.Join(",", keys.Select(k => $"{k.Generation}:{k.Kid}"))}");

                var store = secrets.FirstOrDefault(s => s.Metadata.Name == $"{name}-keyrotator-keys");
                if (store is not null)
                {
                    var entries = store.Data.Values.Select(v =>
                    {
                        using var json = JsonDocument.Parse(Encoding.UTF8.GetString(v));
                        return (Generation: json.RootElement.GetProperty("generation").GetInt64(), Kid: json.RootElement.GetProperty("kid").GetString()!);
                    }).ToList();
                    if (entries.Select(e => e.Generation).Distinct().Count() != entries.Count)
                        Violation(name, sent, $"a generation twice in the key store: {string.Join(",", entries.Select(e => $"{e.Generation}:{e.Kid}"))}");
                    foreach (var (generation, storedKid) in entries)
                        history.Bind(generation, storedKid, sent, Violation);

                    // No key lost: the signing key is in the store of the same (consistent) list.
                    if (!entries.Any(e => e.Kid == kid))
                        Violation(name, sent, $"signing kid {kid} is not in the key store");
                }

                if (history.GenerationOfKid.TryGetValue(kid, out var signingGeneration))
                {
                    if (signingGeneration < history.HighestSigningGeneration)
                        Violation(name, sent, $"signing went back from generation {history.HighestSigningGeneration} to {signingGeneration}");
                    history.HighestSigningGeneration = Math.Max(history.HighestSigningGeneration, signingGeneration);
                }
            }
        }

        private async Task VerifyAsync(string name, string kid, string pem, string alg, JwksView jwks, DateTimeOffset at)
        {
            var now = DateTime.UtcNow;
            var token = TokenSigner.Sign(pem, kid, alg, Issuer, Audience, now, MaxTokenLifetime);
            var result = await TokenSigner.VerifyAsync(token, jwks.Json, alg, Issuer, Audience, now);
            if (result.IsValid)
                TokensVerified++;
            else
                Violation(name, at, $"a token signed with {kid} does not verify against the JWKS held at {jwks.At:HH:mm:ss.fff}: {result.Exception?.Message}");
        }
    }

    private sealed record JwksView(DateTimeOffset At, string Json, HashSet<string> Kids);

    private sealed class SetHistory(string name)
    {
        public string Name { get; } = name;

        public Dictionary<string, List<JwksView>> Views { get; } = [];

        public Dictionary<string, DateTimeOffset> FirstSignedAt { get; } = [];

        public Dictionary<string, DateTimeOffset> LastSignedAt { get; } = [];

        public List<(string Kid, DateTimeOffset At)> Signed { get; } = [];

        public HashSet<(string Where, string Kid)> Removed { get; } = [];

        public Dictionary<long, string> KidOfGeneration { get; } = [];

        public Dictionary<string, long> GenerationOfKid { get; } = [];

        public long HighestSigningGeneration { get; set; }

        public void Record(string where, JwksView view)
        {
            if (!Views.TryGetValue(where, out var list))
                Views[where] = list = [];
            list.Add(view);
        }

        /// <summary>The last JWKS read from <paramref name="where"/> that had been answered by <paramref name="at"/>.</summary>
        public JwksView? ViewAt(string where, DateTimeOffset at) =>
            Views.TryGetValue(where, out var list) ? list.LastOrDefault(v => v.At <= at) : null;

        public void Bind(long generation, string kid, DateTimeOffset at, Action<string, DateTimeOffset, string> violation)
        {
            if (KidOfGeneration.TryGetValue(generation, out var known) && known != kid)
                violation(Name, at, $"generation {generation.ToString(CultureInfo.InvariantCulture)} is {kid} now and was {known}");
            if (GenerationOfKid.TryGetValue(kid, out var knownGeneration) && knownGeneration != generation)
                violation(Name, at, $"kid {kid} is generation {generation} now and was {knownGeneration}");
            KidOfGeneration.TryAdd(generation, kid);
            GenerationOfKid.TryAdd(kid, generation);
        }
    }
}
