using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using k8s;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Model.Time;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Publishing;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Chaos;

/// <summary>
/// Two processes of the built operator share a Lease; one of them is SIGKILLed every 5–15 s and started
/// again, while five sets rotate every 20 s (one with a JWKS copy in another namespace, one on SoftHSM2),
/// until the chaos has done what it is for: at least 12 kills, the Lease held by each replica, five key
/// generations of every set, 300 polls and 20 tokens verified (about two minutes on a quiet machine; a
/// slow machine takes longer instead of failing, up to <see cref="ChaosLimit"/>). A watcher polls the
/// JWKS ConfigMaps, the signing Secrets, the key stores and the sets, and checks the lifecycle
/// invariants (docs/architecture.md) on every poll.
/// </summary>
[Collection(RealProcesses.Name)]
public sealed class ChaosTests(KubernetesEnvironment env)
{
    /// <summary>How long the chaos may take to reach its counts before the test gives up and says which it missed.</summary>
    private static readonly TimeSpan ChaosLimit = TimeSpan.FromMinutes(10);

    private const int Kills = 12;
    private const int Generations = 5;

    [Fact]
    public async Task Replicas_SIGKILLed_every_5_to_15_seconds_through_a_dozen_kills_break_no_invariant_and_lose_or_duplicate_no_key()
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
            ChaosPolicy.Set("copy", ns, "ES256").WithSpec(s => s with { Jwks = new JwksSpec { TargetNamespaces = [target] } }),
            ChaosPolicy.Set("rsa", ns, "RS256", 2048),
            ChaosPolicy.Set("es384", ns, "ES384"),
            ChaosPolicy.Set("plain", ns, "ES256"),
            ChaosPolicy.Set("hsm", ns, "ES256").WithSpec(s => s with
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
        // Enough chaos: counted in events (kills, Lease holders, key generations, polls, tokens), not in minutes.
        bool Enough()
        {
            try
            {
                return kills.Count >= Kills && holders.Contains(a.Identity) && holders.Contains(b.Identity)
                    && sets.All(s => watcher.GenerationsOf(s.Metadata.Name).Count >= Generations)
                    && watcher.Polls > 300 && watcher.TokensVerified >= 20;
            }
            catch (InvalidOperationException)
            {
                return false; // the watcher's record changed while it was read; ask again after the next kill
            }
        }

        var chaosLimit = DateTimeOffset.UtcNow + ChaosLimit;
        var interval = TimeSpan.FromMilliseconds(random.Next(5_000, 15_001));
        await Task.Delay(interval, ct);
        while (!Enough() && DateTimeOffset.UtcNow < chaosLimit)
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

        // One more full poll of the watcher after convergence, then stop it.
        var polls = watcher.Polls;
        await Eventually.HoldsAsync(() => Task.FromResult(watcher.Polls), p => p >= polls + 2, TimeSpan.FromSeconds(30), "the watcher polling the converged sets", ct);
        await stopWatching.CancelAsync();
        await watching;

        var report = watcher.Report();
        var context = $"\nkills ({kills.Count}):\n{string.Join('\n', kills)}\n\n{report}\nreplica-a:\n{a.Tail(15)}\nreplica-b:\n{b.Tail(15)}";
        TestContext.Current.TestOutputHelper?.WriteLine(context);
        Assert.True(watcher.Violations.IsEmpty, $"invariants broken:\n{string.Join('\n', watcher.Violations.Take(30))}{context}");
        Assert.True(kills.Count >= Kills, $"only {kills.Count} kills in {ChaosLimit}{context}");
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
            Assert.True(generations.Count >= Generations, $"{name}: only {generations.Count} generations in {ChaosLimit} of 20 s rotations{context}");
            Assert.True(watcher.SigningKidsSeen(name) >= generations.Count - 1, $"{name}: {watcher.SigningKidsSeen(name)} signing kids seen for {generations.Count} generations{context}");
        }

        Assert.True(watcher.TokensVerified >= 20, $"only {watcher.TokensVerified} tokens verified against earlier JWKS{context}");
    }


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
}
