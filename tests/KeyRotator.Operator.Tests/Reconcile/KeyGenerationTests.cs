using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Reconcile;

/// <summary>
/// RSA keys are generated off the reconcile workers: a set whose key is still being generated does not
/// hold a worker, so other sets go ahead meanwhile, and the set is woken when its key is ready.
/// </summary>
[Collection(HeavyLoad.Name)]
public sealed class KeyGenerationTests(KubernetesEnvironment env)
{
    [Fact]
    public async Task Sets_waiting_for_RSA_keys_do_not_hold_back_a_set_queued_after_them()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("keygen", ct);
        var scenario = new OperatorScenario(env, ns);

        // Three RSA-3072 sets (about half a second of key generation each) ahead of one ES256 set, and
        // a single worker: if the worker generated the keys itself, the ES256 set would come last.
        // (Kept small: the test shares two cores with the rest of the suite.)
        const int RsaSets = 3;
        for (var i = 0; i < RsaSets; i++)
            await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named($"a-rsa-{i}", ns).WithAlgorithm("RS256", 3072).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("z-ec", ns).WithAlgorithm("ES256").WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);

        await using var op = await OperatorInstance.StartAsync(env, [ns], settings: [new("KeyRotator:Workers", "1")]);
        var ec = await scenario.WaitForActiveKeyAsync("z-ec", TimeSpan.FromMinutes(2));
        var rsaActiveBeforeEc = 0;
        for (var i = 0; i < RsaSets; i++)
        {
            var rsa = await scenario.GetAsync($"a-rsa-{i}");
            if (rsa.Status?.ActiveKeyId is not null)
                rsaActiveBeforeEc++;
        }

        Assert.True(rsaActiveBeforeEc < RsaSets, "every RSA set was signing before the ES256 set queued after them: the worker waited for key generation");

        // And every RSA set gets its key without any further event: the generator wakes it.
        for (var i = 0; i < RsaSets; i++)
        {
            var rsa = await scenario.WaitForActiveKeyAsync($"a-rsa-{i}", TimeSpan.FromMinutes(3));
            Assert.Contains(rsa.Status!.Keys!, k => k.State == "Active" && k.Kid == rsa.Status.ActiveKeyId);
        }

        Assert.NotNull(ec.Status!.ActiveKeyId);

        // Key generation runs below the operator's other work, so that lease renewals and the writes that
        // publish and activate keys never wait behind a thousand RSA keys.
        var generators = KeyGenerationThreadNiceValues();
        Assert.NotEmpty(generators);
        Assert.All(generators, nice => Assert.Equal(10, nice));
    }

    /// <summary>The nice value of each key-generation thread in this process (from /proc: the operator runs in process).</summary>
    private static List<int> KeyGenerationThreadNiceValues()
    {
        var values = new List<int>();
        foreach (var task in Directory.GetDirectories("/proc/self/task"))
        {
            string stat;
            try
            {
                if (File.ReadAllText(Path.Combine(task, "comm")).Trim() != "KeyRotator keys")
                    continue;
                stat = File.ReadAllText(Path.Combine(task, "stat"));
            }
            catch (IOException)
            {
                continue; // the thread ended meanwhile
            }

            // Fields after the parenthesised name (which has a space in it) start at field 3, state; nice is field 19.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            values.Add(int.Parse(fields[19 - 3], System.Globalization.CultureInfo.InvariantCulture));
        }

        return values;
    }

    [Fact]
    public async Task A_set_rotating_to_an_RSA_key_still_being_generated_is_not_reconciled_in_a_loop()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("keygen-rotate", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns).WithAlgorithm("RS256", 3072).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        var first = await scenario.WaitForActiveKeyAsync("auth", TimeSpan.FromMinutes(2));
        await op.WaitForQuietQueueAsync(ct);

        // While the new key is generated, the set waits for it rather than coming back at once.
        var before = op.Controller.Reconciles;
        await scenario.RotateNowAsync("auth", first.Status!.ActiveKeyId!, ct);
        await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.ActiveKeyId is { } kid && kid != first.Status.ActiveKeyId, TimeSpan.FromMinutes(2), "the new key signing", ct);
        var reconciles = op.Controller.Reconciles - before;
        Assert.True(reconciles < 30, $"{reconciles} reconciles for one rotation: the set was requeued in a loop while its key was generated");
    }
}
