using k8s;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Reconcile;

public sealed class RevocationTests(KubernetesEnvironment env)
{
    [Fact]
    public async Task Revoking_the_active_kid_unpublishes_it_within_5_seconds_and_activates_a_replacement_with_a_forced_rotation_Event()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("revoke", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .Build(), ct);
        var set = await scenario.WaitForActiveKeyAsync("auth");
        var compromised = set.Status!.ActiveKeyId!;

        await scenario.EditAsync(set.Metadata.Name, s => s.Spec = s.Spec with { RevokedKeyIds = [compromised] }, ct);

        await Eventually.HoldsAsync(async () => (await scenario.JwksAsync("auth-jwks"), await scenario.SigningAsync("auth-signing")),
            o => o.Item1 is { } jwks && jwks.Keys.All(k => k.Kid != compromised) && o.Item2.Kid is { } kid && kid != compromised && jwks.Keys.Any(k => k.Kid == kid),
            TimeSpan.FromSeconds(30), "the revoked kid leaving the JWKS and the signing Secret (the set's schedule is an hour away)", ct);

        var after = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.ActiveKeyId != compromised, TimeSpan.FromSeconds(30), "status naming the replacement");
        Assert.Equal("Revoked", after.Status!.Keys!.Single(k => k.Kid == compromised).State);
        var events = await Eventually.HoldsAsync(() => scenario.EventsAsync("auth"), e => e.Any(x => x.Reason == "ForcedRotation"), TimeSpan.FromSeconds(30), "a ForcedRotation Event");
        Assert.Contains("activated at once", events.First(e => e.Reason == "ForcedRotation").Message, StringComparison.Ordinal);
        Assert.Contains(events, e => e.Reason == "KeyRevoked" && e.Type == "Warning");

        // The vault keeps no usable private half of the revoked key.
        // (The vault is cleaned at the end of the same reconcile, just after status is written.)
        var entry = await Eventually.HoldsAsync(async () =>
            {
                var store = await env.Admin.CoreV1.ReadNamespacedSecretAsync("auth-keyrotator-keys", ns, cancellationToken: ct);
                return store.Data.Values.Select(v => System.Text.Encoding.UTF8.GetString(v)).Single(v => v.Contains(compromised, StringComparison.Ordinal));
            },
            e => e.Contains("\"enabled\":false", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the revoked key disabled in the vault", ct);
        Assert.Contains("\"pkcs8\":null", entry, StringComparison.Ordinal);
    }
}
