using System.Text;
using k8s;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Reconcile;

/// <summary>Invariant 9: the operator changes only what it created for a set; a name held by anyone else is a NameConflict.</summary>
public sealed class OwnershipTests(KubernetesEnvironment env)
{
    [Fact]
    public async Task A_ConfigMap_it_did_not_create_is_left_unchanged_and_the_set_reports_NameConflict()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("own-cm", ct);
        var scenario = new OperatorScenario(env, ns);
        var foreign = await env.Admin.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap
        {
            Metadata = new V1ObjectMeta { Name = "app-settings" },
            Data = new Dictionary<string, string> { ["feature"] = "on" },
        }, ns, cancellationToken: ct);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);

        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { Jwks = new() { ConfigMapName = "app-settings" } })
            .Build(), ct);

        var held = await scenario.WaitForReadyReasonAsync("auth", "NameConflict", ct);
        var ready = ConditionSet.Find(held.Status!.Conditions, ConditionSet.Ready)!;
        Assert.Contains($"ConfigMap {ns}/app-settings", ready.Message, StringComparison.Ordinal);
        Assert.Contains("choose another spec.jwks.configMapName", ready.Message, StringComparison.Ordinal);
        await Eventually.HoldsAsync(() => scenario.EventsAsync("auth"), e => e.Any(x => x.Reason == "NameConflict" && x.Type == "Warning"), TimeSpan.FromSeconds(5), "a NameConflict Event", ct);

        var after = await env.Admin.CoreV1.ReadNamespacedConfigMapAsync("app-settings", ns, cancellationToken: ct);
        Assert.Equal(foreign.Metadata.ResourceVersion, after.Metadata.ResourceVersion);
        Assert.Equal(new Dictionary<string, string> { ["feature"] = "on" }, after.Data);

        // Deleting the set leaves the foreign ConfigMap alone too.
        await scenario.Sets.DeleteAsync(ns, "auth", ct);
        await scenario.WaitUntilGoneAsync("auth", cancellationToken: ct);
        Assert.Equal(foreign.Metadata.ResourceVersion, (await env.Admin.CoreV1.ReadNamespacedConfigMapAsync("app-settings", ns, cancellationToken: ct)).Metadata.ResourceVersion);
    }

    [Fact]
    public async Task Two_sets_naming_one_ConfigMap_the_first_keeps_it_and_the_second_gets_NameConflict()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("own-two", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("first", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { Jwks = new() { ConfigMapName = "shared-jwks" } })
            .Build(), ct);
        var first = await scenario.WaitForActiveKeyAsync("first");

        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("second", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { Jwks = new() { ConfigMapName = "shared-jwks" } })
            .Build(), ct);
        var second = await scenario.WaitForReadyReasonAsync("second", "NameConflict", ct);

        Assert.Contains("another SigningKeySet", ConditionSet.Find(second.Status!.Conditions, ConditionSet.Ready)!.Message, StringComparison.Ordinal);
        Assert.Null(second.Status.ActiveKeyId);
        var jwks = await scenario.JwksAsync("shared-jwks");
        Assert.Equal([first.Status!.ActiveKeyId], jwks!.Keys.Select(k => k.Kid));
        var cm = await env.Admin.CoreV1.ReadNamespacedConfigMapAsync("shared-jwks", ns, cancellationToken: ct);
        Assert.Equal(first.Metadata.Uid, Assert.Single(cm.Metadata.OwnerReferences).Uid);
    }

    [Fact]
    public async Task An_application_Secret_named_as_the_signing_Secret_is_never_overwritten_nor_deleted_with_the_set()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("own-secret", ct);
        var scenario = new OperatorScenario(env, ns);
        var password = await ApplicationSecretAsync(ns, "db-password", "password", "hunter2", ct);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);

        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { SigningSecretName = "db-password", DeletionPolicy = "Delete" })
            .Build(), ct);
        var held = await scenario.WaitForReadyReasonAsync("auth", "NameConflict", ct);
        Assert.Contains($"Secret {ns}/db-password", ConditionSet.Find(held.Status!.Conditions, ConditionSet.Ready)!.Message, StringComparison.Ordinal);

        await scenario.Sets.DeleteAsync(ns, "auth", ct);
        await scenario.WaitUntilGoneAsync("auth", cancellationToken: ct);
        await AssertUntouchedAsync(password, "password", "hunter2", ct);
    }

    [Fact]
    public async Task A_Secret_someone_else_keeps_under_the_key_store_name_is_never_read_nor_written_and_the_set_reports_NameConflict()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("own-keystore", ct);
        var scenario = new OperatorScenario(env, ns);
        var foreign = await ApplicationSecretAsync(ns, "auth-keyrotator-keys", "token", "someone else's", ct);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);

        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        var held = await scenario.WaitForReadyReasonAsync("auth", "NameConflict", ct);

        var message = ConditionSet.Find(held.Status!.Conditions, ConditionSet.Ready)!.Message;
        Assert.Contains($"Secret {ns}/auth-keyrotator-keys", message, StringComparison.Ordinal);
        Assert.Null(held.Status.ActiveKeyId);
        await AssertUntouchedAsync(foreign, "token", "someone else's", ct);
    }

    [Fact]
    public async Task A_signing_Secret_named_like_the_key_store_is_refused_and_no_stored_key_is_lost()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("own-store", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .Build(), ct);
        var set = await scenario.WaitForActiveKeyAsync("auth");
        var storeBefore = await env.Admin.CoreV1.ReadNamespacedSecretAsync("auth-keyrotator-keys", ns, cancellationToken: ct);

        await scenario.EditAsync(set.Metadata.Name, s => s.Spec = s.Spec with { SigningSecretName = "auth-keyrotator-keys" }, ct);

        var held = await scenario.WaitForReadyReasonAsync("auth", "InvalidSpec", ct);
        Assert.Contains("is the name of the set's own key store", ConditionSet.Find(held.Status!.Conditions, ConditionSet.Ready)!.Message, StringComparison.Ordinal);
        var storeAfter = await env.Admin.CoreV1.ReadNamespacedSecretAsync("auth-keyrotator-keys", ns, cancellationToken: ct);
        Assert.Equal(storeBefore.Metadata.ResourceVersion, storeAfter.Metadata.ResourceVersion);
        Assert.Contains(storeAfter.Data.Values.Select(v => Encoding.UTF8.GetString(v)), v => v.Contains(set.Status!.ActiveKeyId!, StringComparison.Ordinal) && v.Contains("\"pkcs8\":\"", StringComparison.Ordinal));
        Assert.Contains((await scenario.JwksAsync("auth-jwks"))!.Keys, k => k.Kid == set.Status!.ActiveKeyId);
    }

    /// <summary>An application's own Secret (unlabelled, one key): nothing KeyRotator made.</summary>
    private Task<V1Secret> ApplicationSecretAsync(string ns, string name, string key, string value, CancellationToken ct) =>
        env.Admin.CoreV1.CreateNamespacedSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = name },
            Data = new Dictionary<string, byte[]> { [key] = Encoding.UTF8.GetBytes(value) },
        }, ns, cancellationToken: ct);

    /// <summary>The application's Secret is exactly as it was created: never written, never deleted.</summary>
    private async Task AssertUntouchedAsync(V1Secret created, string key, string value, CancellationToken ct)
    {
        var after = await env.Admin.CoreV1.ReadNamespacedSecretAsync(created.Metadata.Name, created.Metadata.NamespaceProperty, cancellationToken: ct);
        Assert.Equal(created.Metadata.ResourceVersion, after.Metadata.ResourceVersion);
        Assert.Equal(value, Encoding.UTF8.GetString(after.Data[key]));
    }
}
