using k8s;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Reconcile;

/// <summary>JWKS copies go only into namespaces whose owners opted in; everything else is skipped and said so.</summary>
public sealed class TenancyTests(KubernetesEnvironment env)
{
    [Fact]
    public async Task A_tenant_cannot_get_a_single_byte_written_into_a_namespace_that_did_not_opt_in()
    {
        var ct = TestContext.Current.CancellationToken;
        var tenantA = await env.CreateNamespaceAsync("tenant-a", ct);
        var tenantB = await env.CreateNamespaceAsync("tenant-b", ct);
        var optedIn = await env.CreateNamespaceAcceptingJwksFromAsync("opted-in", tenantA, ct);
        var missing = $"missing-{Guid.NewGuid():N}"[..20];
        var scenario = new OperatorScenario(env, tenantA);

        // Tenant B's own objects, one of them under the very name tenant A asks for.
        await env.Admin.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap
        {
            Metadata = new V1ObjectMeta { Name = "platform-config" },
            Data = new Dictionary<string, string> { ["owner"] = "tenant-b" },
        }, tenantB, cancellationToken: ct);
        await env.Admin.CoreV1.CreateNamespacedSecretAsync(new V1Secret { Metadata = new V1ObjectMeta { Name = "b-secret" }, StringData = new Dictionary<string, string> { ["k"] = "v" } }, tenantB, cancellationToken: ct);
        var before = await SnapshotAsync(tenantB, ct);

        await using var op = await OperatorInstance.StartAsync(env, [tenantA, tenantB, optedIn]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", tenantA)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { Jwks = new() { ConfigMapName = "platform-config", TargetNamespaces = [tenantB, missing, optedIn] } })
            .Build(), ct);

        // The set works for its own namespace and the namespace that opted in, although two targets are skipped.
        var set = await scenario.WaitForActiveKeyAsync("auth");
        Assert.Contains((await scenario.JwksAsync("platform-config", optedIn))!.Keys, k => k.Kid == set.Status!.ActiveKeyId);
        Assert.NotNull((await scenario.SigningAsync("auth-signing")).Pem);

        var skipped = set.Status!.SkippedTargets!.ToDictionary(t => t.Namespace, t => t);
        Assert.Equal(2, skipped.Count);
        Assert.Equal("NotAccepted", skipped[tenantB].Reason);
        Assert.Contains($"kubectl annotate namespace {tenantB} {Labels.AcceptJwksFromAnnotation}={tenantA}", skipped[tenantB].Message, StringComparison.Ordinal);
        Assert.Equal("NamespaceNotFound", skipped[missing].Reason);
        var degraded = ConditionSet.Find(set.Status.Conditions, ConditionSet.Degraded)!;
        Assert.Equal(("True", "CopiesSkipped"), (degraded.Status, degraded.Reason));
        await Eventually.HoldsAsync(() => scenario.EventsAsync("auth"), e => e.Any(x => x.Reason == "NotAccepted" && x.Message.Contains(tenantB, StringComparison.Ordinal)), TimeSpan.FromSeconds(5), "a NotAccepted Event", ct);

        // Rotate and revoke: tenant B still sees no change at all.
        await scenario.EditAsync(set.Metadata.Name, s => s.Spec = s.Spec with { RevokedKeyIds = [set.Status!.ActiveKeyId!] }, ct);
        await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.ActiveKeyId is { } kid && kid != set.Status.ActiveKeyId, TimeSpan.FromSeconds(10), "a replacement key", ct);
        Assert.Equal(before, await SnapshotAsync(tenantB, ct));
    }

    [Fact]
    public async Task A_copy_whose_name_is_taken_in_an_opted_in_namespace_is_a_NameConflict_and_a_created_namespace_gets_its_copy()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("source", ct);
        var taken = await env.CreateNamespaceAcceptingJwksFromAsync("taken", ns, ct);
        var later = $"later-{Guid.NewGuid():N}"[..18];
        var scenario = new OperatorScenario(env, ns);
        var foreign = await env.Admin.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap
        {
            Metadata = new V1ObjectMeta { Name = "auth-jwks" },
            Data = new Dictionary<string, string> { ["jwks.json"] = "{\"keys\":[]}" },
        }, taken, cancellationToken: ct);
        await using var op = await OperatorInstance.StartAsync(env, [ns, taken, later]);

        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { Jwks = new() { TargetNamespaces = [taken, later] } })
            .Build(), ct);
        var set = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"),
            s => s.Status?.ActiveKeyId is not null && s.Status.SkippedTargets?.Count == 2, TimeSpan.FromSeconds(20), "active with two skipped targets", ct);
        Assert.Equal("NameConflict", set.Status!.SkippedTargets!.Single(t => t.Namespace == taken).Reason);
        Assert.Equal("NameConflict", ConditionSet.Find(set.Status.Conditions, ConditionSet.Degraded)!.Reason);
        Assert.Equal(foreign.Metadata.ResourceVersion, (await env.Admin.CoreV1.ReadNamespacedConfigMapAsync("auth-jwks", taken, cancellationToken: ct)).Metadata.ResourceVersion);

        // The missing namespace appears, opted in: the copy follows without any edit of the set.
        await env.Admin.CoreV1.CreateNamespaceAsync(new V1Namespace
        {
            Metadata = new V1ObjectMeta { Name = later, Annotations = new Dictionary<string, string> { [Labels.AcceptJwksFromAnnotation] = $"other, {ns}" } },
        }, cancellationToken: ct);
        await Eventually.HoldsAsync(() => scenario.JwksAsync("auth-jwks", later), j => j?.Keys.Any(k => k.Kid == set.Status.ActiveKeyId) == true, TimeSpan.FromSeconds(45), "the copy in the new namespace", ct);
        await env.Admin.CoreV1.DeleteNamespaceAsync(later, cancellationToken: ct);
    }

    [Fact]
    public async Task A_revocation_reaches_every_copy_the_set_owns_even_one_dropped_in_the_same_invalid_edit_and_one_whose_namespace_withdrew()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("revoke-src", ct);
        var dropped = await env.CreateNamespaceAcceptingJwksFromAsync("revoke-dropped", ns, ct);
        var withdrawn = await env.CreateNamespaceAcceptingJwksFromAsync("revoke-withdrawn", ns, ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns, dropped, withdrawn]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { Jwks = new() { TargetNamespaces = [dropped, withdrawn] } })
            .Build(), ct);
        var set = await scenario.WaitForActiveKeyAsync("auth");
        var kid = set.Status!.ActiveKeyId!;
        foreach (var copy in new[] { dropped, withdrawn })
            await Eventually.HoldsAsync(() => scenario.JwksAsync("auth-jwks", copy), j => j?.Keys.Any(k => k.Kid == kid) == true, TimeSpan.FromSeconds(20), $"the copy in {copy}", ct);

        // The owner of one namespace withdraws its opt-in; then one edit revokes the active key, drops the
        // other namespace and makes the spec invalid, so that the set is held.
        var target = await env.Admin.CoreV1.ReadNamespaceAsync(withdrawn, cancellationToken: ct);
        target.Metadata.Annotations.Remove(Labels.AcceptJwksFromAnnotation);
        await env.Admin.CoreV1.ReplaceNamespaceAsync(target, withdrawn, cancellationToken: ct);
        await scenario.EditAsync("auth", s =>
        {
            s.Spec = s.Spec with
            {
                RevokedKeyIds = [kid],
                Jwks = new() { TargetNamespaces = [withdrawn] },
                Rotation = s.Spec.Rotation! with { Overlap = "1s" },
            };
        }, ct);
        await scenario.WaitForReadyReasonAsync("auth", "InvalidSpec", ct);

        // The dropped copy is deleted; the withdrawn namespace's copy and the set's own lose the kid.
        await Eventually.HoldsAsync(() => OperatorScenario.ExistsAsync(() => env.Admin.CoreV1.ReadNamespacedConfigMapAsync("auth-jwks", dropped, cancellationToken: ct)),
            exists => !exists, TimeSpan.FromSeconds(10), "the dropped copy deleted", ct);
        foreach (var copy in new[] { ns, withdrawn })
            await Eventually.HoldsAsync(() => scenario.JwksAsync("auth-jwks", copy), j => j is not null && j.Keys.All(k => k.Kid != kid), TimeSpan.FromSeconds(10), $"the revoked kid out of {copy}", ct);

        // Once the spec is valid again, the namespace that withdrew its opt-in loses the copy.
        await scenario.EditAsync("auth", s => s.Spec = s.Spec with { Rotation = s.Spec.Rotation! with { Overlap = "2h" } }, ct);
        await Eventually.HoldsAsync(() => OperatorScenario.ExistsAsync(() => env.Admin.CoreV1.ReadNamespacedConfigMapAsync("auth-jwks", withdrawn, cancellationToken: ct)),
            exists => !exists, TimeSpan.FromSeconds(30), "the copy in the namespace that withdrew deleted", ct);
        var healed = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.ActiveKeyId is { } active && active != kid, TimeSpan.FromSeconds(30), "a new active key", ct);
        Assert.DoesNotContain((await scenario.JwksAsync("auth-jwks"))!.Keys, k => k.Kid == kid);
        Assert.Equal("NotAccepted", Assert.Single(healed.Status!.SkippedTargets!).Reason);
    }

    private async Task<string> SnapshotAsync(string ns, CancellationToken ct)
    {
        var configMaps = (await env.Admin.CoreV1.ListNamespacedConfigMapAsync(ns, cancellationToken: ct)).Items.Select(c => $"cm/{c.Metadata.Name}@{c.Metadata.ResourceVersion}");
        var secrets = (await env.Admin.CoreV1.ListNamespacedSecretAsync(ns, cancellationToken: ct)).Items.Select(s => $"secret/{s.Metadata.Name}@{s.Metadata.ResourceVersion}");
        var nsObject = await env.Admin.CoreV1.ReadNamespaceAsync(ns, cancellationToken: ct);
        return string.Join(",", configMaps.Concat(secrets).Order(StringComparer.Ordinal)) + $",ns@{nsObject.Metadata.ResourceVersion}";
    }
}
