using System.Net;
using System.Text.Json;
using k8s;
using k8s.Autorest;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Publishing;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Reconcile;

public sealed class PublicationTests(KubernetesEnvironment env)
{
    [Fact]
    public async Task Renaming_the_signing_Secret_moves_the_key_and_deletes_the_old_Secret_with_its_private_key()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("publish", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { SigningSecretName = "auth-signing-v1" })
            .Build(), ct);
        var set = await scenario.WaitForActiveKeyAsync("auth");
        Assert.NotNull((await scenario.SigningAsync("auth-signing-v1")).Pem);

        await scenario.EditAsync(set.Metadata.Name, s => s.Spec = s.Spec with { SigningSecretName = "auth-signing-v2" }, ct);

        var moved = await Eventually.HoldsAsync(async () => (await scenario.SigningAsync("auth-signing-v2"), await scenario.SigningAsync("auth-signing-v1")),
            s => s.Item1.Kid == set.Status!.ActiveKeyId && s.Item1.Pem is not null && s.Item2.Kid is null && s.Item2.Pem is null,
            TimeSpan.FromSeconds(15), "the key in the new Secret and the old Secret gone", ct);
        Assert.Equal(set.Status!.ActiveKeyId, moved.Item1.Kid);
    }

    [Fact]
    public async Task Jwks_is_copied_to_target_namespaces_with_an_openid_configuration_and_restored_after_edits_and_deletes()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("publish", ct);
        var payments = await env.CreateNamespaceAcceptingJwksFromAsync("payments", ns, ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns, payments]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { Jwks = new() { ConfigMapName = "auth-keys", TargetNamespaces = [payments], Issuer = "https://auth.example.com" } })
            .Build(), ct);
        var set = await scenario.WaitForActiveKeyAsync("auth");
        Assert.NotNull(set.Status);

        var original = await env.Admin.CoreV1.ReadNamespacedConfigMapAsync("auth-keys", ns, cancellationToken: ct);
        var copy = await Eventually.HoldsAsync(() => env.Admin.CoreV1.ReadNamespacedConfigMapAsync("auth-keys", payments, cancellationToken: ct),
            c => c.Data?.TryGetValue(JwksPublisher.JwksKey, out var json) == true && json!.Contains(set.Status!.ActiveKeyId!, StringComparison.Ordinal), TimeSpan.FromSeconds(10), "the copy in payments");
        Assert.Equal(original.Data[JwksPublisher.JwksKey], copy.Data[JwksPublisher.JwksKey]);
        Assert.Equal(Labels.ManagedByValue, original.Metadata.Labels[Labels.ManagedBy]);
        Assert.Equal(set.Metadata.Uid, Assert.Single(original.Metadata.OwnerReferences).Uid);
        // Which key signs is on the signing Secret and in status: the JWKS depends on the published keys only (issue #34).
        Assert.False(original.Metadata.Annotations!.ContainsKey(Labels.ActiveKidAnnotation));
        Assert.NotEmpty(original.Metadata.Annotations[Labels.ContentHashAnnotation]);
        using var openid = JsonDocument.Parse(original.Data[JwksPublisher.OpenIdConfigurationKey]);
        Assert.Equal("https://auth.example.com", openid.RootElement.GetProperty("issuer").GetString());
        Assert.Equal("ES256", openid.RootElement.GetProperty("id_token_signing_alg_values_supported")[0].GetString());
        Assert.Equal("https://auth.example.com/.well-known/jwks.json", openid.RootElement.GetProperty("jwks_uri").GetString());
        Assert.Equal("id_token", Assert.Single(openid.RootElement.GetProperty("response_types_supported").EnumerateArray()).GetString());
        Assert.Equal("public", Assert.Single(openid.RootElement.GetProperty("subject_types_supported").EnumerateArray()).GetString());

        // Someone edits the JWKS: the operator puts it back.
        original.Data[JwksPublisher.JwksKey] = "{\"keys\":[]}";
        await env.Admin.CoreV1.ReplaceNamespacedConfigMapAsync(original, "auth-keys", ns, cancellationToken: ct);
        await Eventually.HoldsAsync(() => scenario.JwksAsync("auth-keys"), j => j?.Keys.Any(k => k.Kid == set.Status.ActiveKeyId) == true, TimeSpan.FromSeconds(10), "the JWKS restored");

        // Someone deletes the copy and the signing Secret: both come back.
        await env.Admin.CoreV1.DeleteNamespacedConfigMapAsync("auth-keys", payments, cancellationToken: ct);
        await env.Admin.CoreV1.DeleteNamespacedSecretAsync("auth-signing", ns, cancellationToken: ct);
        await Eventually.HoldsAsync(() => scenario.JwksAsync("auth-keys", payments), j => j is not null, TimeSpan.FromSeconds(10), "the copy restored");
        await Eventually.HoldsAsync(() => scenario.SigningAsync("auth-signing"), s => s.Kid == set.Status.ActiveKeyId, TimeSpan.FromSeconds(10), "the signing Secret restored");

        // A namespace dropped from targetNamespaces loses its copy; the set's own stays.
        var current = await scenario.GetAsync("auth");
        await scenario.EditAsync(current.Metadata.Name, s => s.Spec = s.Spec with { Jwks = s.Spec.Jwks! with { TargetNamespaces = [] } }, ct);
        await Eventually.HoldsAsync(() => scenario.JwksAsync("auth-keys", payments), j => j is null, TimeSpan.FromSeconds(10), "the dropped copy removed");
        Assert.NotNull(await scenario.JwksAsync("auth-keys"));
    }

    [Theory]
    [InlineData("Retain")]
    [InlineData("Delete")]
    public async Task Deleting_a_set_removes_what_was_published_and_honours_the_deletion_policy_for_keys(string policy)
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync($"delete-{policy}", ct);
        var other = await env.CreateNamespaceAcceptingJwksFromAsync("copy", ns, ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns, other]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { DeletionPolicy = policy, Jwks = new() { TargetNamespaces = [other] } })
            .Build(), ct);
        await scenario.WaitForActiveKeyAsync("auth");
        await Eventually.HoldsAsync(() => scenario.JwksAsync("auth-jwks", other), j => j is not null, TimeSpan.FromSeconds(10), "the copy");

        await scenario.Sets.DeleteAsync(ns, "auth", ct);

        // No garbage collector runs here: the operator's finalizer must clean up by itself.
        await scenario.WaitUntilGoneAsync("auth", cancellationToken: ct);
        Assert.Null(await scenario.JwksAsync("auth-jwks"));
        Assert.Null(await scenario.JwksAsync("auth-jwks", other));
        Assert.False(await OperatorScenario.ExistsAsync(() => env.Admin.CoreV1.ReadNamespacedSecretAsync("auth-signing", ns)));
        // Retain keeps the keys under a name of their own, detached and no longer managed, so that a set
        // re-created under the same name starts with fresh keys.
        Assert.False(await OperatorScenario.ExistsAsync(() => env.Admin.CoreV1.ReadNamespacedSecretAsync("auth-keyrotator-keys", ns)));
        var retained = (await env.Admin.CoreV1.ListNamespacedSecretAsync(ns, cancellationToken: ct)).Items.Where(s => s.Metadata.Name.StartsWith("auth-keyrotator-keys-retained-", StringComparison.Ordinal)).ToList();
        Assert.Equal(policy == "Retain" ? 1 : 0, retained.Count);
        if (policy == "Retain")
        {
            Assert.Empty(retained[0].Metadata.OwnerReferences ?? []);
            Assert.False(retained[0].Metadata.Labels?.ContainsKey(Labels.ManagedBy) ?? false);
            Assert.Contains(retained[0].Data.Keys, k => k.StartsWith("gen-", StringComparison.Ordinal));
        }
    }
}
