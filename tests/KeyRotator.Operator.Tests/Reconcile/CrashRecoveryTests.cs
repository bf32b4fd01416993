using System.Text;
using System.Text.Json;
using k8s;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Reconcile;

/// <summary>Invariant 6: a crash at any step of a rotation leaves no duplicate key and no lost key.</summary>
public sealed class CrashRecoveryTests(KubernetesEnvironment env)
{
    private static readonly Dictionary<string, string?> NoLeaderElection = new() { ["KeyRotator:LeaderElection:Enabled"] = "false" };

    public static TheoryData<string> Steps => ["key created", "JWKS published", "signing Secret written", "status written"];

    [Theory]
    [MemberData(nameof(Steps))]
    public async Task Operator_killed_after_a_rotation_step_resumes_without_duplicate_or_lost_keys(string step)
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("crash", ct);
        var scenario = new OperatorScenario(env, ns);
        var crash = new CrashingHandler(request => request.Method == HttpMethod.Put && step switch
        {
            "key created" => request.RequestUri!.AbsolutePath.EndsWith("/secrets/auth-keyrotator-keys", StringComparison.Ordinal),
            "JWKS published" => request.RequestUri!.AbsolutePath.EndsWith("/configmaps/auth-jwks", StringComparison.Ordinal),
            "signing Secret written" => request.RequestUri!.AbsolutePath.EndsWith("/secrets/auth-signing", StringComparison.Ordinal),
            _ => request.RequestUri!.AbsolutePath.EndsWith("/signingkeysets/auth/status", StringComparison.Ordinal),
        });

        var first = await OperatorInstance.StartAsync(env, [ns], settings: NoLeaderElection, handlers: [crash]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "2s" })
            .Build(), ct);
        var before = await scenario.WaitForActiveKeyAsync("auth");
        await first.WaitForQuietQueueAsync(ct);

        crash.Armed = true;
        await scenario.EditAsync(before.Metadata.Name, s => s.Metadata.Annotations = new Dictionary<string, string> { [Labels.RotateNowAnnotation] = "now" }, ct);
        await crash.Crashed.WaitAsync(TimeSpan.FromSeconds(20), ct);
        await first.DisposeAsync();

        await using var second = await OperatorInstance.StartAsync(env, [ns], settings: NoLeaderElection);
        var after = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"),
            s => s.Status?.ActiveKeyId is { } kid && kid != before.Status!.ActiveKeyId, TimeSpan.FromSeconds(30), "the rotation finishing after the restart");

        var vault = await VaultEntriesAsync(ns);
        Assert.Equal([1L, 2L], vault.Select(e => e.Generation).Order());
        Assert.Equal(2, after.Status!.Keys!.Count);
        foreach (var key in after.Status.Keys!)
            Assert.Equal(vault.Single(v => v.Generation == key.Generation).Kid, key.Kid);
        Assert.Equal("Retiring", after.Status.Keys.Single(k => k.Kid == before.Status!.ActiveKeyId).State);

        var jwks = (await scenario.JwksAsync("auth-jwks"))!;
        Assert.Equal([after.Status.ActiveKeyId, before.Status!.ActiveKeyId], jwks.Keys.Select(k => k.Kid));
        Assert.Equal(after.Status.ActiveKeyId, (await scenario.SigningAsync("auth-signing")).Kid);
    }

    private async Task<List<(long Generation, string Kid)>> VaultEntriesAsync(string ns)
    {
        var secret = await env.Admin.CoreV1.ReadNamespacedSecretAsync("auth-keyrotator-keys", ns);
        return secret.Data.Values.Select(v =>
        {
            using var json = JsonDocument.Parse(Encoding.UTF8.GetString(v));
            return (json.RootElement.GetProperty("generation").GetInt64(), json.RootElement.GetProperty("kid").GetString()!);
        }).ToList();
    }
}
