using System.Text;
using k8s;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Reconcile;

/// <summary>Invariant 10: revocation and retirement never wait; keys belong to a set's UID; history is bounded.</summary>
public sealed class SafetyTests(KubernetesEnvironment env)
{
    [Fact]
    public async Task A_revocation_in_the_same_edit_as_an_invalid_timing_still_leaves_every_JWKS_within_5_seconds()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("safety-invalid", ct);
        var copy = await env.CreateNamespaceAcceptingJwksFromAsync("safety-copy", ns, ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns, copy]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s", Overlap = "20m" })
            .WithSpec(s => s with { Jwks = new() { TargetNamespaces = [copy] } })
            .Build(), ct);
        var first = (await scenario.WaitForActiveKeyAsync("auth")).Status!.ActiveKeyId!;
        var set = await scenario.RotateNowAsync("auth", first, ct);
        var second = set.Status!.ActiveKeyId!;
        Assert.Contains((await scenario.JwksAsync("auth-jwks", copy))!.Keys, k => k.Kid == first);

        // One edit: revoke the retiring key and make the timing invalid.
        await scenario.EditAsync(set.Metadata.Name, s => s.Spec = s.Spec with { RevokedKeyIds = [first], Rotation = s.Spec.Rotation with { Overlap = "1s" } }, ct);

        await Eventually.HoldsAsync(async () => (await scenario.JwksAsync("auth-jwks"), await scenario.JwksAsync("auth-jwks", copy)),
            j => j.Item1!.Keys.All(k => k.Kid != first) && j.Item2!.Keys.All(k => k.Kid != first), TimeSpan.FromSeconds(30), "the revoked kid out of both copies", ct);
        Assert.Equal([second], (await scenario.JwksAsync("auth-jwks"))!.Keys.Select(k => k.Kid));
        Assert.Equal(second, (await scenario.SigningAsync("auth-signing")).Kid);

        var held = await scenario.WaitForReadyReasonAsync("auth", "InvalidSpec", ct);
        Assert.Equal(KeyState.Revoked, held.Status!.Keys!.Single(k => k.Kid == first).State);
        Assert.Equal(second, held.Status.ActiveKeyId);
    }

    [Fact]
    public async Task A_copy_the_API_server_refuses_to_write_does_not_keep_a_revoked_kid_in_the_signing_Secret_or_the_other_copies()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("safety-failing", ct);
        var failing = await env.CreateNamespaceAcceptingJwksFromAsync("safety-terminating", ns, ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns, failing]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { Jwks = new() { TargetNamespaces = [failing] } })
            .Build(), ct);
        var set = await scenario.WaitForActiveKeyAsync("auth");
        var compromised = set.Status!.ActiveKeyId!;
        await Eventually.HoldsAsync(() => scenario.JwksAsync("auth-jwks", failing), j => j is not null, TimeSpan.FromSeconds(10), "the copy", ct);

        // This control plane has no namespace controller: a deleted namespace stays Terminating, and the
        // API server refuses to create anything in it. Deleting the copy makes every re-create fail.
        await env.Admin.CoreV1.DeleteNamespaceAsync(failing, cancellationToken: ct);
        await env.Admin.CoreV1.DeleteNamespacedConfigMapAsync("auth-jwks", failing, cancellationToken: ct);
        await Eventually.HoldsAsync(() => scenario.GetAsync("auth"),
            s => ConditionSet.Find(s.Status?.Conditions, ConditionSet.Degraded) is { Status: "True", Reason: "PublishFailed" }, TimeSpan.FromSeconds(15), "Degraded PublishFailed", ct);

        set = await scenario.GetAsync("auth");
        await scenario.EditAsync(set.Metadata.Name, s => s.Spec = s.Spec with { RevokedKeyIds = [compromised] }, ct);

        await Eventually.HoldsAsync(async () => (await scenario.JwksAsync("auth-jwks"), await scenario.SigningAsync("auth-signing")),
            o => o.Item1!.Keys.All(k => k.Kid != compromised) && o.Item2.Kid != compromised && o.Item2.Pem is null,
            TimeSpan.FromSeconds(30), "the revoked kid out of the set's own JWKS and the signing Secret", ct);
        var degraded = ConditionSet.Find((await scenario.GetAsync("auth")).Status!.Conditions, ConditionSet.Degraded)!;
        Assert.Contains($"/namespaces/{failing}/configmaps", degraded.Message, StringComparison.Ordinal);
        Assert.Contains("403", degraded.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Revoking_every_key_while_the_spec_is_invalid_publishes_an_empty_key_set_and_empties_the_signing_Secret()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("safety-all", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .Build(), ct);
        var set = await scenario.WaitForActiveKeyAsync("auth");
        var only = set.Status!.ActiveKeyId!;

        await scenario.EditAsync(set.Metadata.Name, s => s.Spec = s.Spec with { RevokedKeyIds = [only], Rotation = s.Spec.Rotation with { Cron = "every day at noon", Interval = null } }, ct);

        // The JWKS copies are written first, then the signing Secret: wait for both.
        await Eventually.HoldsAsync(async () => (await scenario.JwksAsync("auth-jwks"), await scenario.SigningAsync("auth-signing")),
            o => o.Item1 is { Keys.Count: 0 } && o.Item2.Kid is null && o.Item2.Pem is null, TimeSpan.FromSeconds(30), "an empty key set and an empty signing Secret", ct);
        var held = await scenario.WaitForReadyReasonAsync("auth", "InvalidSpec", ct);
        Assert.Null(held.Status!.ActiveKeyId);
    }

    [Fact]
    public async Task A_set_recreated_under_the_same_name_after_Retain_gets_fresh_keys_and_never_publishes_a_revoked_kid()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("safety-recreate", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        var build = () => SigningKeySetBuilder.Named("auth", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build();
        await scenario.Sets.CreateAsync(build(), ct);
        var set = await scenario.WaitForActiveKeyAsync("auth");
        var revoked = set.Status!.ActiveKeyId!;
        await scenario.EditAsync(set.Metadata.Name, s => s.Spec = s.Spec with { RevokedKeyIds = [revoked] }, ct);
        var replacement = (await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.ActiveKeyId is { } kid && kid != revoked, TimeSpan.FromSeconds(10), "a replacement", ct)).Status!.ActiveKeyId!;

        await scenario.Sets.DeleteAsync(ns, "auth", ct);
        await scenario.WaitUntilGoneAsync("auth", cancellationToken: ct);
        await scenario.Sets.CreateAsync(build(), ct);
        var again = await scenario.WaitForActiveKeyAsync("auth");

        var old = new[] { revoked, replacement };
        Assert.DoesNotContain(again.Status!.ActiveKeyId, old);
        Assert.DoesNotContain(again.Status.Keys!, k => old.Contains(k.Kid));
        Assert.DoesNotContain((await scenario.JwksAsync("auth-jwks"))!.Keys, k => old.Contains(k.Kid));
        Assert.DoesNotContain((await scenario.SigningAsync("auth-signing")).Kid, old);

        // The retained keys are still there for humans, untouched by the new set.
        var retained = (await env.Admin.CoreV1.ListNamespacedSecretAsync(ns, cancellationToken: ct)).Items.Single(s => s.Metadata.Name.StartsWith("auth-keyrotator-keys-retained-", StringComparison.Ordinal));
        var retainedText = string.Join("\n", retained.Data.Values.Select(v => Encoding.UTF8.GetString(v)));
        Assert.Contains(replacement, retainedText, StringComparison.Ordinal);
        Assert.DoesNotContain(again.Status.ActiveKeyId!, retainedText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Changing_the_algorithm_of_a_live_set_is_refused_and_its_keys_keep_working()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("safety-alg", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        var set = await scenario.WaitForActiveKeyAsync("auth");
        Assert.Equal("ES256", set.Status!.KeyParameters!.Algorithm);
        var jwksBefore = await scenario.JwksJsonAsync("auth-jwks");

        await scenario.EditAsync(set.Metadata.Name, s => s.Spec = s.Spec with { Algorithm = "RS256" }, ct);

        var held = await scenario.WaitForReadyReasonAsync("auth", "InvalidSpec", ct);
        Assert.Contains("spec.algorithm was ES256 when the set's keys were made and is now RS256", ConditionSet.Find(held.Status!.Conditions, ConditionSet.Ready)!.Message, StringComparison.Ordinal);
        Assert.Equal(jwksBefore, await scenario.JwksJsonAsync("auth-jwks"));
        Assert.Equal("ES256", (await scenario.SigningAsync("auth-signing")).Alg);

        // Reverting is enough to carry on.
        await scenario.EditAsync(held.Metadata.Name, s => s.Spec = s.Spec with { Algorithm = "ES256" }, ct);
        await scenario.WaitForActiveKeyAsync("auth");
    }

    [Fact]
    public async Task The_key_store_keeps_a_bounded_history_of_retired_keys_under_Retain()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("safety-history", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns], settings: new Dictionary<string, string?> { ["KeyRotator:RetiredKeyHistory"] = "2" });
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s", Overlap = "3s" })
            .WithSpec(s => s with { MaxTokenLifetime = "1s", ClockSkew = "1s" })
            .Build(), ct);
        var active = (await scenario.WaitForActiveKeyAsync("auth")).Status!.ActiveKeyId!;
        for (var i = 0; i < 5; i++)
            active = (await scenario.RotateNowAsync("auth", active, ct)).Status!.ActiveKeyId!;

        // Once the last overlap ends: the active key and two retired ones remain, in status and in the store.
        var settled = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status!.Keys!.All(k => k.State is KeyState.Active or KeyState.Retired) && s.Status.Keys!.Count == 3,
            TimeSpan.FromSeconds(20), "one active and two retired keys in status", ct);
        var store = await Eventually.HoldsAsync(() => env.Admin.CoreV1.ReadNamespacedSecretAsync("auth-keyrotator-keys", ns, cancellationToken: ct), s => s.Data.Count == 3,
            TimeSpan.FromSeconds(10), "three entries in the key store", ct);
        var storedText = string.Join("\n", store.Data.Values.Select(v => Encoding.UTF8.GetString(v)));
        Assert.All(settled.Status!.Keys!, k => Assert.Contains(k.Kid, storedText, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Delete_removes_the_keys_even_when_the_spec_has_become_invalid()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("safety-delete", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { DeletionPolicy = "Delete" })
            .Build(), ct);
        var set = await scenario.WaitForActiveKeyAsync("auth");
        await scenario.EditAsync(set.Metadata.Name, s => s.Spec = s.Spec with { Rotation = s.Spec.Rotation with { Overlap = "1s" } }, ct);
        await scenario.WaitForReadyReasonAsync("auth", "InvalidSpec", ct);

        await scenario.Sets.DeleteAsync(ns, "auth", ct);

        await scenario.WaitUntilGoneAsync("auth", cancellationToken: ct);
        var left = (await env.Admin.CoreV1.ListNamespacedSecretAsync(ns, cancellationToken: ct)).Items.Where(s => s.Metadata.Name.StartsWith("auth-", StringComparison.Ordinal)).Select(s => s.Metadata.Name);
        Assert.Empty(left);
    }

    [Fact]
    public async Task A_set_that_does_not_decode_is_reported_with_an_Event_and_skipped_while_the_others_carry_on()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("safety-undecodable", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        foreach (var name in new[] { "good", "broken" })
        {
            await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named(name, ns).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
            await scenario.WaitForActiveKeyAsync(name);
        }

        // Someone writes the status by hand, around the schema: an integer the model cannot hold.
        await env.Admin.CustomObjects.PatchNamespacedCustomObjectStatusAsync(
            new k8s.Models.V1Patch("""{"status":{"keyParameters":{"rsaKeySize":99999999999}}}""", k8s.Models.V1Patch.PatchType.MergePatch),
            KeyRotator.Model.Resources.V1Alpha1SigningKeySet.Group, KeyRotator.Model.Resources.V1Alpha1SigningKeySet.Version, ns, KeyRotator.Model.Resources.V1Alpha1SigningKeySet.Plural, "broken", cancellationToken: ct);

        var events = await Eventually.HoldsAsync(() => scenario.EventsAsync("broken"), e => e.Any(x => x.Reason == "Undecodable"), TimeSpan.FromSeconds(15), "an Undecodable Event", ct);
        var undecodable = Assert.Single(events, e => e.Reason == "Undecodable");
        Assert.Equal("Warning", undecodable.Type);
        Assert.Contains("cannot read this SigningKeySet", undecodable.Message, StringComparison.Ordinal);
        Assert.Contains($"kubectl get signingkeyset broken -n {ns} -o yaml", undecodable.Message, StringComparison.Ordinal);
        Assert.Contains(op.Logs.Lines, l => l.Contains($"SigningKeySet {ns}/broken cannot be decoded", StringComparison.Ordinal));

        // The other set is not held up, and the operator stays ready.
        var good = await scenario.GetAsync("good");
        await scenario.RotateNowAsync("good", good.Status!.ActiveKeyId!, ct);
        Assert.True(op.Health.Ready().Ok, op.Health.Ready().Detail);

        // Fixed, the set is read again and carries on; the Event was recorded once, not on every re-list.
        await env.Admin.CustomObjects.PatchNamespacedCustomObjectStatusAsync(
            new k8s.Models.V1Patch("""{"status":{"keyParameters":{"rsaKeySize":null}}}""", k8s.Models.V1Patch.PatchType.MergePatch),
            KeyRotator.Model.Resources.V1Alpha1SigningKeySet.Group, KeyRotator.Model.Resources.V1Alpha1SigningKeySet.Version, ns, KeyRotator.Model.Resources.V1Alpha1SigningKeySet.Plural, "broken", cancellationToken: ct);
        var broken = await scenario.GetAsync("broken");
        await scenario.RotateNowAsync("broken", broken.Status!.ActiveKeyId!, ct);
        Assert.Single(await scenario.EventsAsync("broken"), e => e.Reason == "Undecodable");
    }
}
