using k8s;
using k8s.Models;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Reconcile;

/// <summary>
/// Labels are not ownership: anyone who may create a ConfigMap may write KeyRotator's labels on it. An object
/// that carries a set's labels but no record of the set's UID is someone else's, and the set's publications
/// and revocations (which delete copies the set no longer wants) leave it exactly as it was.
/// </summary>
public sealed class UnclaimedCopyTests(KubernetesEnvironment env)
{
    [Fact]
    public async Task A_ConfigMap_with_only_a_sets_labels_in_another_namespace_survives_the_sets_publication_and_revocation()
    {
        var ct = TestContext.Current.CancellationToken;
        var teamA = await env.CreateNamespaceAsync("owner", ct);
        var teamB = await env.CreateNamespaceAsync("bystander", ct);
        // Team B's own ConfigMap, labelled (by mistake or on purpose) as a copy of team A's set; no set UID on it.
        var labelled = await env.Admin.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap
        {
            Metadata = new V1ObjectMeta { Name = "auth-jwks", Labels = Labels.For(teamA, "auth", "jwks") },
            Data = new Dictionary<string, string> { ["jwks.json"] = "{\"keys\":[]}", ["note"] = "team B's data" },
        }, teamB, cancellationToken: ct);
        var scenario = new OperatorScenario(env, teamA);
        await using var op = await OperatorInstance.StartAsync(env, [teamA, teamB]);

        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", teamA).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        var set = await scenario.WaitForActiveKeyAsync("auth");
        var revoked = set.Status!.ActiveKeyId!;
        await scenario.EditAsync("auth", s => s.Spec = s.Spec with { RevokedKeyIds = [revoked] }, ct);
        await Eventually.HoldsAsync(() => scenario.JwksAsync("auth-jwks"), j => j is { } jwks && jwks.Keys.Count > 0 && jwks.Keys.All(k => k.Kid != revoked),
            TimeSpan.FromSeconds(30), "the revoked kid leaving team A's JWKS (the withdrawal looked for copies in every watched namespace)", ct);

        var after = await env.Admin.CoreV1.ReadNamespacedConfigMapAsync("auth-jwks", teamB, cancellationToken: ct);
        Assert.Equal(labelled.Metadata.ResourceVersion, after.Metadata.ResourceVersion);
        Assert.Equal("team B's data", after.Data["note"]);
    }
}
