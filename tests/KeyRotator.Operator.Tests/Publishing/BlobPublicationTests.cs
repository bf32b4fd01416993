// Longer than 300 lines: the blob target's scenarios (grant, publication, storage outage) share one Azurite fixture and its helpers.
using System.Text;
using Azure.Storage.Blobs;
using k8s;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Publishing;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Publishing;

/// <summary>
/// A set that publishes to an Azure Blob Storage target (Azurite), run by the operator on the real API
/// server: the documents relying parties outside the cluster read, the grant, and an outage of the
/// storage service during a rotation.
/// </summary>
public sealed class BlobPublicationTests(KubernetesEnvironment env, AzuriteFixture azurite) : IClassFixture<AzuriteFixture>
{
    private const string Issuer = "https://issuer.example.test/team/auth";

    [Fact]
    public async Task The_blobs_hold_the_configmaps_bytes_with_the_public_urls_and_the_endpoints_cache_rule()
    {
        var ct = TestContext.Current.CancellationToken;
        var (scenario, container, target) = await ArrangeAsync("blob-docs", ct);
        await using var op = await OperatorInstance.StartAsync(env, [scenario.Namespace]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", scenario.Namespace)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "3s", Overlap = "20m" })
            .WithSpec(s => s with { Jwks = new JwksSpec { Issuer = Issuer }, Publish = [new PublishSpec { Target = target, Path = "team/auth" }] })
            .Build(), ct);

        var active = await scenario.WaitForActiveKeyAsync("auth");

        var configMap = await env.Admin.CoreV1.ReadNamespacedConfigMapAsync("auth-jwks", scenario.Namespace, cancellationToken: ct);
        var jwks = await DownloadAsync(container, "team/auth/.well-known/jwks.json", ct);
        var discovery = await DownloadAsync(container, "team/auth/.well-known/openid-configuration", ct);
        Assert.Equal(configMap.Data[JwksPublisher.JwksKey], jwks.Content);
        Assert.Equal(configMap.Data[JwksPublisher.OpenIdConfigurationKey], discovery.Content);
        Assert.Contains(active.Status!.ActiveKeyId!, JwksDocument.Parse(jwks.Content).Keys.Select(k => k.Kid));
        Assert.Contains($"\"issuer\":\"{Issuer}\"", discovery.Content, StringComparison.Ordinal);
        Assert.Contains($"\"jwks_uri\":\"{Issuer}/.well-known/jwks.json\"", discovery.Content, StringComparison.Ordinal);
        Assert.Equal(("application/json", "public, max-age=1"), (jwks.ContentType, jwks.CacheControl));

        // Status says what the target holds and when the storage service wrote it.
        var held = Assert.Single(active.Status.ExternalTargets!);
        var properties = (await container.GetBlobClient("team/auth/.well-known/jwks.json").GetPropertiesAsync(cancellationToken: ct)).Value;
        Assert.Equal((target, "team/auth", configMap.Metadata.Annotations[KeyRotator.Model.Kubernetes.Labels.ContentHashAnnotation]), (held.Target, held.Path, held.ContentHash));
        Assert.NotNull(held.WrittenAt);
        Assert.True(held.WrittenAt >= properties.LastModified, $"status says written at {held.WrittenAt:O}; the JWKS blob was last modified at {properties.LastModified:O}");
    }

    [Fact]
    public async Task The_kubernetes_issuer_layout_puts_the_jwks_where_federation_setups_look()
    {
        var ct = TestContext.Current.CancellationToken;
        var (scenario, container, target) = await ArrangeAsync("blob-k8s", ct);
        await using var op = await OperatorInstance.StartAsync(env, [scenario.Namespace]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", scenario.Namespace)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "8m", Overlap = "20m" })
            .WithSpec(s => s with
            {
                Jwks = new JwksSpec { Issuer = Issuer, JwksUri = Issuer + "/openid/v1/jwks" },
                Publish = [new PublishSpec { Target = target, Path = "team/auth", Layout = "KubernetesIssuer" }],
            })
            .Build(), ct);

        var pending = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.NextKeyId is not null, TimeSpan.FromSeconds(20), "a published key", ct);

        var jwks = await DownloadAsync(container, "team/auth/openid/v1/jwks", ct);
        var discovery = await DownloadAsync(container, "team/auth/.well-known/openid-configuration", ct);
        Assert.Equal([pending.Status!.NextKeyId], JwksDocument.Parse(jwks.Content).Keys.Select(k => k.Kid));
        Assert.Contains($"\"jwks_uri\":\"{Issuer}/openid/v1/jwks\"", discovery.Content, StringComparison.Ordinal);
        Assert.Equal("public, max-age=120", jwks.CacheControl);

        // A revocation (here of the pending key) makes the documents short-lived for a while: the blob without the
        // kid, and every document written meanwhile, is cached 10 s at most, at the target and at the HTTP endpoint.
        var revoked = pending.Status.NextKeyId!;
        await scenario.Sets.UpdateAsync(scenario.Namespace, "auth", set =>
        {
            set.Spec = set.Spec with { RevokedKeyIds = [revoked] };
            return true;
        }, ct);
        var afterRevocation = await Eventually.HoldsAsync(() => DownloadAsync(container, "team/auth/openid/v1/jwks", ct),
            d => !d.Content.Contains(revoked, StringComparison.Ordinal), TimeSpan.FromSeconds(15), "the revoked key out of the blob", ct);
        Assert.Equal("public, max-age=10", afterRevocation.CacheControl);
        Assert.Equal("public, max-age=10", (await DownloadAsync(container, "team/auth/.well-known/openid-configuration", ct)).CacheControl);
    }

    [Fact]
    public async Task A_target_not_granted_to_the_namespace_holds_the_set_and_is_never_written()
    {
        var ct = TestContext.Current.CancellationToken;
        var (scenario, container, target) = await ArrangeAsync("blob-grant", ct, grantedTo: "someone-else");
        await using var op = await OperatorInstance.StartAsync(env, [scenario.Namespace]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", scenario.Namespace)
            .WithSpec(s => s with { Publish = [new PublishSpec { Target = target, Path = "team/auth" }] })
            .Build(), ct);

        var held = await scenario.WaitForReadyReasonAsync("auth", Reasons.PublishTargetNotGranted, ct);

        Assert.Contains($"add {scenario.Namespace} to its spec.namespaces", ConditionSet.Find(held.Status!.Conditions, ConditionSet.Ready)!.Message, StringComparison.Ordinal);
        Assert.Empty(await container.GetBlobsAsync(cancellationToken: ct).ToListAsync(ct));
        Assert.Null(held.Status.NextKeyId);
    }

    [Fact]
    [Trait("Category", "Timing")] // a timing guarantee of the product, measured: see CONTRIBUTING.md, "Timing tests"
    public async Task Storage_down_for_a_minute_during_a_rotation_holds_the_next_key_and_no_reader_of_the_blob_sees_an_invariant_broken()
    {
        var ct = TestContext.Current.CancellationToken;
        var prePublish = TimeSpan.FromSeconds(3);
        var readerJitter = TimeSpan.FromMilliseconds(500); // the blob is read every 100 ms, the Secret watched
        await using var storage = await AzuriteServer.StartAsync();
        var (scenario, container, target) = await ArrangeAsync("blob-outage", ct, server: storage);
        await using var timeline = new Reconcile.RotationTimeline(env.Admin, scenario.Namespace, "auth-jwks", "auth-signing",
            new Uri($"{container.Uri}/team/auth/.well-known/jwks.json"));
        await using var op = await OperatorInstance.StartAsync(env, [scenario.Namespace]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", scenario.Namespace)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "3s", Overlap = "20m" })
            .WithSpec(s => s with { Publish = [new PublishSpec { Target = target, Path = "team/auth" }] })
            .Build(), ct);
        var first = (await scenario.WaitForActiveKeyAsync("auth")).Status!.ActiveKeyId!;

        await storage.StopAsync();
        var outage = System.Diagnostics.Stopwatch.StartNew();
        await RotateNowAsync(scenario, "during-the-outage", ct);
        var degraded = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"),
            s => ConditionSet.Find(s.Status?.Conditions, ConditionSet.Degraded) is { Status: "True", Reason: Reasons.PublishFailed },
            TimeSpan.FromSeconds(60), "Degraded PublishFailed while the storage service is down", ct);
        Assert.Contains($"ClusterPublishTarget {target}", ConditionSet.Find(degraded.Status!.Conditions, ConditionSet.Degraded)!.Message, StringComparison.Ordinal);
        var inConfigMap = await env.Admin.CoreV1.ReadNamespacedConfigMapAsync("auth-jwks", scenario.Namespace, cancellationToken: ct);
        Assert.Equal(2, JwksDocument.Parse(inConfigMap.Data[JwksPublisher.JwksKey]).Keys.Count); // the next key is published in the cluster, not yet outside

        // For the rest of the minute, sampled: the next key neither signs nor is named to signers.
        while (outage.Elapsed < TimeSpan.FromMinutes(1))
        {
            Assert.Equal(first, (await scenario.SigningAsync("auth-signing")).Kid);
            Assert.Equal(first, (await scenario.GetAsync("auth")).Status!.ActiveKeyId);
            await Task.Delay(TimeSpan.FromSeconds(5), ct);
        }

        await storage.StartAgainAsync();
        var rotated = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.ActiveKeyId is { } kid && kid != first, TimeSpan.FromSeconds(90), "the next key signing", ct);
        await Eventually.HoldsAsync(() => Task.FromResult(timeline.Activations().Count), n => n == 2, TimeSpan.FromSeconds(10), "the signing Secret on the next key", ct);
        Assert.Equal("False", ConditionSet.Find(rotated.Status!.Conditions, ConditionSet.Degraded)?.Status);

        // The timeline, as the ConfigMap's watchers and the blob's readers saw it.
        Assert.True(timeline.BlobUnreachable > 0, "the blob's reader never saw the outage");
        foreach (var (kid, from) in timeline.Activations())
        {
            var inBlob = timeline.FirstInBlob(kid);
            Assert.True(inBlob is not null, $"{kid} signed but the blob's reader never saw it");
            Assert.True(from - inBlob >= prePublish - readerJitter, $"{kid} was in the blob {from - inBlob} before it signed (prePublish {prePublish})");
            Assert.True(from - timeline.FirstPublished(kid) >= prePublish - readerJitter, $"{kid} was in the ConfigMap {from - timeline.FirstPublished(kid)} before it signed");
        }

        foreach (var (at, kid) in timeline.Signing)
        {
            Assert.Contains(kid, timeline.InBlobAt(at + readerJitter) ?? []);
            Assert.Contains(kid, timeline.PublishedAt(at + readerJitter) ?? []);
        }
    }

    [Fact]
    public async Task Storage_down_while_a_revoked_key_must_stay_out_is_PublishFailed_on_every_path_and_never_ReconcileFailed()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var storage = await AzuriteServer.StartAsync();
        var (scenario, _, target) = await ArrangeAsync("blob-fault", ct, server: storage);
        await using var op = await OperatorInstance.StartAsync(env, [scenario.Namespace]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", scenario.Namespace)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "3s", Overlap = "20m" })
            .WithSpec(s => s with { Publish = [new PublishSpec { Target = target, Path = "team/auth" }] })
            .Build(), ct);
        var first = (await scenario.WaitForActiveKeyAsync("auth")).Status!.ActiveKeyId!;
        await RotateNowAsync(scenario, "second", ct);
        await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.ActiveKeyId is { } kid && kid != first, TimeSpan.FromSeconds(30), "the second key signing", ct);
        await scenario.EditAsync("auth", set => set.Spec = set.Spec with { RevokedKeyIds = [first] }, ct);
        await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.Keys?.Any(k => k.Kid == first && k.State == "Revoked") == true,
            TimeSpan.FromSeconds(30), "the first key revoked", ct);

        // Every reconcile from now on withdraws the revoked kid from the blob (level-based) and cannot reach it.
        await storage.StopAsync();
        await RotateNowAsync(scenario, "during-the-outage", ct);
        await Eventually.HoldsAsync(() => scenario.GetAsync("auth"),
            s => ConditionSet.Find(s.Status?.Conditions, ConditionSet.Degraded) is { Status: "True" }, TimeSpan.FromSeconds(60), "Degraded while the storage service is down", ct);
        var sampled = System.Diagnostics.Stopwatch.StartNew();
        while (sampled.Elapsed < TimeSpan.FromSeconds(20))
        {
            var degraded = ConditionSet.Find((await scenario.GetAsync("auth")).Status!.Conditions, ConditionSet.Degraded)!;
            Assert.Equal(("True", Reasons.PublishFailed), (degraded.Status, degraded.Reason));
            Assert.Contains($"ClusterPublishTarget {target}", degraded.Message, StringComparison.Ordinal);
            await Task.Delay(TimeSpan.FromSeconds(2), ct);
        }

        var events = await scenario.EventsAsync("auth");
        Assert.Contains(events, e => e.Reason == Reasons.PublishFailed);
        Assert.DoesNotContain(events, e => e.Reason == Reasons.ReconcileFailed);

        await storage.StartAgainAsync();
        await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => ConditionSet.Find(s.Status?.Conditions, ConditionSet.Degraded)?.Status == "False",
            TimeSpan.FromSeconds(90), "Degraded cleared once the storage service is back", ct);
    }

    [Fact]
    public async Task A_revoked_key_put_back_into_the_blob_by_a_restore_or_a_hand_edit_is_gone_again_within_one_check()
    {
        var ct = TestContext.Current.CancellationToken;
        var (scenario, container, target) = await ArrangeAsync("blob-drift", ct);
        const string Jwks = "team/auth/.well-known/jwks.json";
        await using var op = await OperatorInstance.StartAsync(env, [scenario.Namespace]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", scenario.Namespace)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "3s", Overlap = "20m" })
            .WithSpec(s => s with { Publish = [new PublishSpec { Target = target, Path = "team/auth" }] })
            .Build(), ct);
        var first = (await scenario.WaitForActiveKeyAsync("auth")).Status!.ActiveKeyId!;
        await RotateNowAsync(scenario, "second", ct);
        await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.ActiveKeyId is { } kid && kid != first, TimeSpan.FromSeconds(30), "the second key signing", ct);
        var blob = container.GetBlobClient(Jwks);
        var beforeRevocation = (await blob.DownloadContentAsync(ct)).Value;
        Assert.Contains(first, beforeRevocation.Content.ToString(), StringComparison.Ordinal);
        await scenario.EditAsync("auth", set => set.Spec = set.Spec with { RevokedKeyIds = [first] }, ct);
        await Eventually.HoldsAsync(async () => (await DownloadAsync(container, Jwks, ct)).Content, json => !json.Contains(first, StringComparison.Ordinal),
            TimeSpan.FromSeconds(15), "the revoked key out of the blob", ct);

        // While a revocation is recent the documents' max-age is 10 s, and so is the interval of the operator's checks.
        var within = CachePolicy.DriftCheck(CachePolicy.RecentRevocationMaxAge) + TimeSpan.FromSeconds(8);

        // A restore of the version from before the revocation: its bytes and its metadata, as the storage service keeps them.
        await blob.UploadAsync(beforeRevocation.Content, new Azure.Storage.Blobs.Models.BlobUploadOptions
        {
            HttpHeaders = new Azure.Storage.Blobs.Models.BlobHttpHeaders { ContentType = beforeRevocation.Details.ContentType, CacheControl = beforeRevocation.Details.CacheControl },
            Metadata = beforeRevocation.Details.Metadata,
        }, ct);
        Assert.Contains(first, (await DownloadAsync(container, Jwks, ct)).Content, StringComparison.Ordinal);
        await Eventually.HoldsAsync(async () => (await DownloadAsync(container, Jwks, ct)).Content, json => !json.Contains(first, StringComparison.Ordinal),
            within, "the restored revoked key out of the blob again", ct);

        // A hand edit that keeps the operator's metadata (its marker and the hash of what it wrote) but not its bytes.
        var current = (await blob.GetPropertiesAsync(cancellationToken: ct)).Value;
        await blob.UploadAsync(beforeRevocation.Content, new Azure.Storage.Blobs.Models.BlobUploadOptions
        {
            HttpHeaders = new Azure.Storage.Blobs.Models.BlobHttpHeaders { ContentType = current.ContentType, CacheControl = current.CacheControl },
            Metadata = current.Metadata,
        }, ct);
        Assert.Contains(first, (await DownloadAsync(container, Jwks, ct)).Content, StringComparison.Ordinal);
        await Eventually.HoldsAsync(async () => (await DownloadAsync(container, Jwks, ct)).Content, json => !json.Contains(first, StringComparison.Ordinal),
            within, "the hand-edited revoked key out of the blob again", ct);
        var configMap = await env.Admin.CoreV1.ReadNamespacedConfigMapAsync("auth-jwks", scenario.Namespace, cancellationToken: ct);
        Assert.Equal(configMap.Data[JwksPublisher.JwksKey], (await DownloadAsync(container, Jwks, ct)).Content);
    }

    private static Task<V1Alpha1SigningKeySet> RotateNowAsync(OperatorScenario scenario, string value, CancellationToken ct) =>
        scenario.EditAsync("auth", set =>
        {
            set.Metadata.Annotations ??= new Dictionary<string, string>();
            set.Metadata.Annotations[KeyRotator.Model.Kubernetes.Labels.RotateNowAnnotation] = value;
        }, ct);

    [Fact]
    public async Task A_blob_someone_else_wrote_at_the_sets_path_is_a_name_conflict_and_is_left_as_it_was()
    {
        var ct = TestContext.Current.CancellationToken;
        var (scenario, container, target) = await ArrangeAsync("blob-foreign", ct);
        const string Theirs = "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"someone-elses\"}]}";
        await container.GetBlobClient("team/auth/.well-known/jwks.json").UploadAsync(BinaryData.FromString(Theirs), ct);
        await using var op = await OperatorInstance.StartAsync(env, [scenario.Namespace]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", scenario.Namespace)
            .WithSpec(s => s with { Publish = [new PublishSpec { Target = target, Path = "team/auth" }] })
            .Build(), ct);

        var held = await scenario.WaitForReadyReasonAsync("auth", Reasons.NameConflict, ct);

        Assert.Contains($"blob {container.Name}/team/auth/.well-known/jwks.json of ClusterPublishTarget {target} was not written by this set", ConditionSet.Find(held.Status!.Conditions, ConditionSet.Ready)!.Message, StringComparison.Ordinal);
        Assert.Equal(Theirs, (await DownloadAsync(container, "team/auth/.well-known/jwks.json", ct)).Content);
        Assert.Null(held.Status.ActiveKeyId);
    }

    [Fact]
    public async Task A_revoked_key_leaves_the_target_that_answers_while_another_is_down_and_that_one_once_it_is_back()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var second = await AzuriteServer.StartAsync();
        var (scenario, upContainer, up) = await ArrangeAsync("blob-two", ct);
        var (downContainer, down) = await BlobTargets.CreateAsync(env, scenario.Namespace, second, scenario.Namespace, ct, name: "second");
        await using var op = await OperatorInstance.StartAsync(env, [scenario.Namespace]);
        // The target that will be down comes first: its failure must not stop the withdrawal from the other.
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", scenario.Namespace)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "2s", Overlap = "20m" })
            .WithSpec(s => s with { Publish = [new PublishSpec { Target = down, Path = "team/auth" }, new PublishSpec { Target = up, Path = "team/auth" }] })
            .Build(), ct);
        var first = (await scenario.WaitForActiveKeyAsync("auth")).Status!.ActiveKeyId!;
        var current = (await scenario.RotateNowAsync("auth", first, ct)).Status!.ActiveKeyId!;
        foreach (var container in new[] { upContainer, downContainer })
            Assert.Contains(first, (await DownloadAsync(container, "team/auth/.well-known/jwks.json", ct)).Content, StringComparison.Ordinal);

        await second.StopAsync();
        await scenario.Sets.UpdateAsync(scenario.Namespace, "auth", set =>
        {
            set.Spec = set.Spec with { RevokedKeyIds = [first] };
            return true;
        }, ct);

        await Eventually.HoldsAsync(async () => (await DownloadAsync(upContainer, "team/auth/.well-known/jwks.json", ct)).Content, json => !json.Contains(first, StringComparison.Ordinal),
            TimeSpan.FromSeconds(15), "the revoked key out of the target that answers", ct);
        // As for a JWKS copy the API server refuses during a revocation: the reconcile fails naming the target, and is
        // retried with backoff; status does not call the key revoked until every target has lost it.
        var degraded = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"),
            s => ConditionSet.Find(s.Status?.Conditions, ConditionSet.Degraded) is { Status: "True" } d && d.Message.Contains($"could not publish to ClusterPublishTarget {down}", StringComparison.Ordinal),
            TimeSpan.FromSeconds(60), "Degraded naming the target that is down", ct);
        Assert.DoesNotContain(degraded.Status!.Keys!, k => k.State == "Revoked");
        Assert.Equal(current, degraded.Status!.ActiveKeyId);
        Assert.Equal(current, (await scenario.SigningAsync("auth-signing")).Kid);

        await second.StartAgainAsync();
        await Eventually.HoldsAsync(async () => (await DownloadAsync(downContainer, "team/auth/.well-known/jwks.json", ct)).Content, json => !json.Contains(first, StringComparison.Ordinal),
            TimeSpan.FromSeconds(90), "the revoked key out of the target once it is back", ct);
        var healed = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => ConditionSet.Find(s.Status?.Conditions, ConditionSet.Degraded)?.Status == "False",
            TimeSpan.FromSeconds(60), "Degraded cleared", ct);
        Assert.Equal("Revoked", healed.Status!.Keys!.Single(k => k.Kid == first).State);
    }

    [Fact]
    public async Task Jose_and_PyJWKClient_reading_the_blob_accept_every_token_across_three_rotations_and_drop_a_revoked_key_within_the_blobs_max_age()
    {
        var ct = TestContext.Current.CancellationToken;
        var (scenario, container, target) = await ArrangeAsync("blob-interop", ct);
        await using var op = await OperatorInstance.StartAsync(env, [scenario.Namespace]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", scenario.Namespace)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "8s", Overlap = "20m" })
            .WithSpec(s => s with { Publish = [new PublishSpec { Target = target, Path = "team/auth" }] })
            .Build(), ct);
        var kid = (await scenario.WaitForActiveKeyAsync("auth")).Status!.ActiveKeyId!;

        // Relying parties outside the cluster: they read the blob anonymously and cache it no longer than its max-age.
        var jwksUri = new Uri($"{container.Uri}/team/auth/.well-known/jwks.json");
        var cacheAge = CachePolicy.MaxAge(TimeSpan.FromSeconds(8));
        await using var jose = Interop.ForeignLibraries.RemoteVerifier.Jose(jwksUri, "ES256", cacheAge);
        await using var pyjwt = Interop.ForeignLibraries.RemoteVerifier.PyJwt(jwksUri, "ES256", cacheAge);
        await using var volume = VolumeMirror.ForSecret(env.Admin, scenario.Namespace, "auth-signing");
        var signer = new KeyRotator.Client.KeyRotatorSigner(volume.Directory);
        await Eventually.HoldsAsync(() => Task.FromResult(signer.CurrentKid()), k => k == kid, TimeSpan.FromSeconds(10), "the signer on the first key", ct);
        var tokens = new List<(string Kid, string Token)> { (kid, Sign(signer)) };

        for (var rotation = 1; rotation <= 3; rotation++)
        {
            kid = (await scenario.RotateNowAsync("auth", kid, ct)).Status!.ActiveKeyId!;
            await Eventually.HoldsAsync(() => Task.FromResult(signer.CurrentKid()), k => k == kid, TimeSpan.FromSeconds(10), $"the signer on key {rotation + 1}", ct);
            tokens.Add((kid, Sign(signer)));
            foreach (var verifier in new[] { jose, pyjwt })
            {
                foreach (var (signedBy, token) in tokens)
                {
                    var verdict = await verifier.VerifyAsync(token, ct);
                    Assert.True(verdict.Valid, $"{verifier.Library} reading the blob refused a token of {signedBy} after rotation {rotation}: {verdict.Error}");
                }
            }
        }

        await scenario.Sets.UpdateAsync(scenario.Namespace, "auth", set =>
        {
            set.Spec = set.Spec with { RevokedKeyIds = [tokens[0].Kid] };
            return true;
        }, ct);
        await Eventually.HoldsAsync(async () => (await DownloadAsync(container, "team/auth/.well-known/jwks.json", ct)).Content, json => !json.Contains(tokens[0].Kid, StringComparison.Ordinal),
            TimeSpan.FromSeconds(15), "the revoked key out of the blob", ct);
        foreach (var verifier in new[] { jose, pyjwt })
        {
            await Eventually.HoldsAsync(() => verifier.VerifyAsync(tokens[0].Token, ct), v => !v.Valid, cacheAge + TimeSpan.FromSeconds(3),
                $"{verifier.Library} refusing the revoked key's token", ct);
            foreach (var (signedBy, token) in tokens.Skip(1))
                Assert.True((await verifier.VerifyAsync(token, ct)).Valid, $"{verifier.Library} refused a token of {signedBy} after another key's revocation");
        }
    }

    [Fact]
    public async Task A_ConfigurationManager_reading_the_issuer_from_the_blob_validates_every_token_across_three_rotations_and_drops_a_revoked_key()
    {
        var ct = TestContext.Current.CancellationToken;
        var (scenario, container, target) = await ArrangeAsync("blob-oidc", ct);
        await using var op = await OperatorInstance.StartAsync(env, [scenario.Namespace]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", scenario.Namespace)
            .WithRotation(r => r with { Interval = "12s", PrePublish = "8s", Overlap = "6s" })
            .WithSpec(s => s with
            {
                MaxTokenLifetime = "3s",
                ClockSkew = "1s",
                Jwks = new JwksSpec { Issuer = Issuer },
                Publish = [new PublishSpec { Target = target, Path = "team/auth" }],
            })
            .Build(), ct);
        var first = await scenario.WaitForActiveKeyAsync("auth");

        // The issuer's public URL is served from the container (as a custom domain or CDN in front of it would).
        using var http = new HttpClient(new FromContainer(Issuer, new Uri($"{container.Uri}/team/auth"), new HttpClientHandler()));
        var retriever = new Serving.JwksHttpTests.HttpCachingRetriever(http);
        var manager = new Microsoft.IdentityModel.Protocols.ConfigurationManager<Microsoft.IdentityModel.Protocols.OpenIdConnect.OpenIdConnectConfiguration>(
            $"{Issuer}/.well-known/openid-configuration", new Microsoft.IdentityModel.Protocols.OpenIdConnect.OpenIdConnectConfigurationRetriever(), retriever)
        { RefreshInterval = TimeSpan.FromSeconds(1) };
        var (activeKids, failures, validated) = await Serving.ConfigurationManagerRun.AcrossThreeRotationsAsync(scenario, first.Status!.ActiveKeyId!, manager, retriever, Issuer, "payments", ct);

        Assert.True(activeKids.Count >= 4, $"three rotations did not happen in time: {string.Join(", ", activeKids)}");
        Assert.True(failures.Count == 0, $"{failures.Count} of {validated} validations failed:\n{string.Join('\n', failures.Take(10))}");
        Assert.True(retriever.Problems.IsEmpty, string.Join("; ", retriever.Problems.Take(5)));
        Assert.All(retriever.MaxAges, m => Assert.InRange(m, TimeSpan.FromSeconds(1), CachePolicy.MaxAge(TimeSpan.FromSeconds(8))));

        // Revocation: a token of the signing key (its lifetime aside, so only the key decides) is refused once
        // the blob has lost the kid and the blob's max-age has passed.
        var (revoked, revokedPem, revokedAlg) = await scenario.SigningAsync("auth-signing");
        var revokedToken = TokenSigner.Sign(revokedPem!, revoked!, revokedAlg!, Issuer, "payments", DateTime.UtcNow, TimeSpan.FromSeconds(3));
        var handler = new Microsoft.IdentityModel.JsonWebTokens.JsonWebTokenHandler();
        var keysAccepted = await handler.ValidateTokenAsync(revokedToken, Serving.ConfigurationManagerRun.Parameters(await manager.GetConfigurationAsync(ct), "payments", validateLifetime: false));
        Assert.True(keysAccepted.IsValid, $"before the revocation: {keysAccepted.Exception?.Message}");
        await scenario.Sets.UpdateAsync(scenario.Namespace, "auth", set =>
        {
            set.Spec = set.Spec with { RevokedKeyIds = [revoked!] };
            return true;
        }, ct);
        await Eventually.HoldsAsync(async () => (await DownloadAsync(container, "team/auth/.well-known/jwks.json", ct)).Content, json => !json.Contains(revoked!, StringComparison.Ordinal),
            TimeSpan.FromSeconds(15), "the revoked key out of the blob", ct);
        await Eventually.HoldsAsync(async () =>
            {
                if (retriever.Stale)
                    manager.RequestRefresh();
                return await handler.ValidateTokenAsync(revokedToken, Serving.ConfigurationManagerRun.Parameters(await manager.GetConfigurationAsync(ct), "payments", validateLifetime: false));
            },
            r => r.Exception is Microsoft.IdentityModel.Tokens.SecurityTokenSignatureKeyNotFoundException,
            CachePolicy.MaxAge(TimeSpan.FromSeconds(8)) + TimeSpan.FromSeconds(3), "ConfigurationManager refusing the revoked key's token", ct);
    }

    /// <summary>Serves <paramref name="publicBase"/>'s URLs from the blob container path (what a custom domain or CDN in front of the account does).</summary>
    private sealed class FromContainer(string publicBase, Uri blobBase, HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var url = request.RequestUri!.ToString();
            if (url.StartsWith(publicBase, StringComparison.Ordinal))
                request.RequestUri = new Uri(blobBase + url[publicBase.Length..]);
            return base.SendAsync(request, cancellationToken);
        }
    }

    private static string Sign(KeyRotator.Client.KeyRotatorSigner signer) =>
        signer.CreateToken(Interop.ForeignLibraries.Issuer, Interop.ForeignLibraries.Audience, TimeSpan.FromMinutes(5), [new System.Security.Claims.Claim("sub", "signed-by-keyrotator")]);

    private async Task<(OperatorScenario Scenario, BlobContainerClient Container, string Target)> ArrangeAsync(
        string prefix, CancellationToken ct, string? grantedTo = null, AzuriteServer? server = null)
    {
        server ??= azurite.Server;
        var ns = await env.CreateNamespaceAsync(prefix, ct);
        var (container, target) = await BlobTargets.CreateAsync(env, ns, server, grantedTo ?? ns, ct);
        return (new OperatorScenario(env, ns), container, target);
    }

    private static async Task<(string Content, string ContentType, string CacheControl)> DownloadAsync(BlobContainerClient container, string name, CancellationToken ct)
    {
        var result = (await container.GetBlobClient(name).DownloadContentAsync(ct)).Value;
        return (result.Content.ToString(), result.Details.ContentType, result.Details.CacheControl);
    }
}
