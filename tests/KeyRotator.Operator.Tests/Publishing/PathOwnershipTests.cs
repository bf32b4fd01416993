using System.Text;
using Azure.Storage.Blobs;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Publishing;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Publishing;

/// <summary>
/// Two teams granted one ClusterPublishTarget, on the real API server and Azurite: team B tries to publish
/// under team A's issuer; a set finding one of its documents taken writes none of them.
/// </summary>
public sealed class PathOwnershipTests(KubernetesEnvironment env, AzuriteFixture azurite) : IClassFixture<AzuriteFixture>
{
    [Fact]
    public async Task A_team_cannot_publish_at_another_teams_path_or_claim_its_issuer_and_the_victim_publishes_there()
    {
        var ct = TestContext.Current.CancellationToken;
        var victim = await env.CreateNamespaceAsync("team-a", ct);
        var attacker = await env.CreateNamespaceAsync("team-b", ct);
        var (container, target) = await BlobTargets.CreateAsync(env, victim, azurite.Server, victim, ct, alsoGrantedTo: [attacker]);
        var victimIssuer = $"{BlobTargets.PublicUrl}/{victim}/auth";
        var (a, b) = (new OperatorScenario(env, victim), new OperatorScenario(env, attacker));
        await using var op = await OperatorInstance.StartAsync(env, [victim, attacker]);

        // Team B first, at team A's path with team A's issuer; then at its own path, still claiming team A's issuer.
        await b.Sets.CreateAsync(Set("squat", attacker, target, $"{victim}/auth", victimIssuer), ct);
        await b.Sets.CreateAsync(Set("claim", attacker, target, $"{attacker}/auth", victimIssuer), ct);
        var squat = await b.WaitForReadyReasonAsync("squat", Reasons.PublishTargetNotGranted, ct);
        Assert.Contains($"spec.publish path {victim}/auth is outside what ClusterPublishTarget {target} grants namespace {attacker}: paths under {attacker}/",
            ConditionSet.Find(squat.Status!.Conditions, ConditionSet.Ready)!.Message, StringComparison.Ordinal);
        var claim = await b.WaitForReadyReasonAsync("claim", Reasons.PublishTargetNotGranted, ct);
        Assert.Contains($"spec.jwks.issuer {victimIssuer} is outside what ClusterPublishTarget {target} grants namespace {attacker}",
            ConditionSet.Find(claim.Status!.Conditions, ConditionSet.Ready)!.Message, StringComparison.Ordinal);
        Assert.Empty(await NamesAsync(container, ct));

        // Team A publishes its issuer where it was granted, and relying parties read team A's keys there.
        await a.Sets.CreateAsync(Set("auth", victim, target, $"{victim}/auth", victimIssuer), ct);
        var active = await a.WaitForActiveKeyAsync("auth");
        var jwks = (await container.GetBlobClient($"{victim}/auth/.well-known/jwks.json").DownloadContentAsync(ct)).Value.Content.ToString();
        Assert.Contains(active.Status!.ActiveKeyId!, jwks, StringComparison.Ordinal);
        Assert.Contains($"\"issuer\":\"{victimIssuer}\"", (await container.GetBlobClient($"{victim}/auth/.well-known/openid-configuration").DownloadContentAsync(ct)).Value.Content.ToString(), StringComparison.Ordinal);

        // Deleting team A's set frees nothing for team B: the path is team A's namespace's, not the set's.
        await a.Sets.DeleteAsync(victim, "auth", ct);
        await Eventually.HoldsAsync(() => NamesAsync(container, ct), names => names.Count == 0, TimeSpan.FromSeconds(30), "team A's documents deleted with its set", ct);
        await b.EditAsync("squat", s => s.Metadata.Annotations = new Dictionary<string, string> { ["touched"] = "after-the-delete" }, ct);
        await b.WaitForReadyReasonAsync("squat", Reasons.PublishTargetNotGranted, ct);
        Assert.Empty(await NamesAsync(container, ct));
    }

    [Fact]
    public async Task A_set_that_finds_one_of_its_documents_taken_writes_none_of_them()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("blob-taken", ct);
        var (container, target) = await BlobTargets.CreateAsync(env, ns, azurite.Server, ns, ct);
        var scenario = new OperatorScenario(env, ns);
        // Someone else's discovery document where the set's would go; its JWKS path is free.
        var foreign = container.GetBlobClient("team/auth/.well-known/openid-configuration");
        await foreign.UploadAsync(BinaryData.FromString("{\"issuer\":\"https://someone.else\"}"), ct);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);

        await scenario.Sets.CreateAsync(Set("auth", ns, target, "team/auth", $"{BlobTargets.PublicUrl}/team/auth"), ct);

        var held = await scenario.WaitForReadyReasonAsync("auth", Reasons.NameConflict, ct);
        Assert.Contains("wrote none of the set's documents there", ConditionSet.Find(held.Status!.Conditions, ConditionSet.Ready)!.Message, StringComparison.Ordinal);
        Assert.Equal(["team/auth/.well-known/openid-configuration"], await NamesAsync(container, ct));
        Assert.Equal("{\"issuer\":\"https://someone.else\"}", (await foreign.DownloadContentAsync(ct)).Value.Content.ToString());
    }

    private static V1Alpha1SigningKeySet Set(string name, string ns, string target, string path, string issuer) =>
        SigningKeySetBuilder.Named(name, ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "3s", Overlap = "20m" })
            .WithSpec(s => s with { Jwks = new JwksSpec { Issuer = issuer }, Publish = [new PublishSpec { Target = target, Path = path }] })
            .Build();

    private static async Task<IReadOnlyList<string>> NamesAsync(BlobContainerClient container, CancellationToken ct)
    {
        var names = new List<string>();
        await foreach (var blob in container.GetBlobsAsync(cancellationToken: ct))
            names.Add(blob.Name);
        return names;
    }
}
