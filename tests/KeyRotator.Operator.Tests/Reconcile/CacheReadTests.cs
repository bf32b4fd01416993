using System.Collections.Concurrent;
using k8s;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Reconcile;

/// <summary>
/// A reconcile reads the set and what it publishes from the informers: once a set has converged, the
/// reconciles that follow send the API server no LIST and no GET at all (only watches stay open), not
/// even of the key-store Secret, whose private keys are read only when one must be written somewhere.
/// Secrets are cached without their data, so no replica holds private keys it is not using.
/// </summary>
public sealed class CacheReadTests(KubernetesEnvironment env)
{
    [Fact]
    public async Task Reconciles_of_a_converged_set_send_no_reads_to_the_API_server()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("cache-reads", ct);
        var target = await env.CreateNamespaceAsync("cache-copy", new Dictionary<string, string> { [KeyRotator.Model.Kubernetes.Labels.AcceptJwksFromAnnotation] = ns }, ct);
        var scenario = new OperatorScenario(env, ns);
        var reads = new ReadRecorder();
        await using var op = await OperatorInstance.StartAsync(env, [ns, target], handlers: [reads]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { Jwks = new KeyRotator.Model.Resources.JwksSpec { TargetNamespaces = [target] } })
            .Build(), ct);
        await scenario.WaitForActiveKeyAsync("auth");
        await Eventually.HoldsAsync(() => scenario.JwksJsonAsync("auth-jwks", target), j => j is not null, TimeSpan.FromSeconds(10), "the copy", ct);
        await op.WaitForQuietQueueAsync(ct);

        // Ten more reconciles of the converged set.
        reads.Clear();
        var before = op.Controller.Reconciles;
        for (var i = 0; i < 10; i++)
        {
            op.Controller.Enqueue(new Operator.Runtime.SetKey(ns, "auth"));
            var reconciled = before + i + 1;
            await Eventually.HoldsAsync(() => Task.FromResult(op.Controller.Reconciles), r => r >= reconciled, TimeSpan.FromSeconds(10), "a reconcile", ct);
        }

        Assert.True(reads.Seen.IsEmpty, "reads during steady-state reconciles:\n" + string.Join('\n', reads.Seen));
    }

    [Fact]
    public async Task A_new_set_converges_reading_only_the_private_key_its_signing_Secret_needs_at_activation()
    {
        // Names are checked where they are written (a create answers 409 when the name is taken), and a
        // new set's first key-store list trusts the informer: the only read is the key store's, for the
        // private key the signing Secret carries once the key activates. An RSA set, so that the
        // reconcile the generated key wakes is covered too.
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("cache-new", ct);
        var scenario = new OperatorScenario(env, ns);
        var reads = new ReadRecorder();
        await using var op = await OperatorInstance.StartAsync(env, [ns], handlers: [reads]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns).WithAlgorithm("RS256", 2048).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        await scenario.WaitForActiveKeyAsync("auth");
        await op.WaitForQuietQueueAsync(ct);

        // (The informers' initial LISTs aside.)
        Assert.Equal([$"GET /api/v1/namespaces/{ns}/secrets/auth-keyrotator-keys"], reads.Seen.Where(r => !r.Contains('?', StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_manual_rotation_reads_the_key_store_once_to_add_the_key_and_once_when_it_activates()
    {
        // Adding a key reads the key store (the Secret is written whole); the signing Secret that
        // publishing writes next carries the active key and the new next one, both in that read. The
        // new key's activation reads the store again, for its private key: nothing private is cached
        // between reconciles. (A rotation storm of 1,000 sets sent 3,000 such reads before, 2,000 now.)
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("cache-rotate", ct);
        var scenario = new OperatorScenario(env, ns);
        var reads = new ReadRecorder();
        await using var op = await OperatorInstance.StartAsync(env, [ns], handlers: [reads]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        var set = await scenario.WaitForActiveKeyAsync("auth");
        await op.WaitForQuietQueueAsync(ct);

        reads.Clear();
        var rotated = await scenario.RotateNowAsync("auth", set.Status!.ActiveKeyId!, ct);
        await op.WaitForQuietQueueAsync(ct);

        var store = $"GET /api/v1/namespaces/{ns}/secrets/auth-keyrotator-keys";
        Assert.Equal([store, store], reads.Seen);
        var (kid, pem, _) = await scenario.SigningAsync("auth-signing");
        Assert.Equal(rotated.Status!.ActiveKeyId, kid);
        Assert.NotNull(pem);
    }

    [Fact]
    public async Task Secrets_are_cached_without_their_data_and_a_changed_signing_Secret_is_still_put_back()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("cache-nodata", ct);
        var scenario = new OperatorScenario(env, ns);
        var reads = new ReadRecorder();
        await using var op = await OperatorInstance.StartAsync(env, [ns], handlers: [reads]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        var set = await scenario.WaitForActiveKeyAsync("auth");
        var (kid, pem, _) = await scenario.SigningAsync("auth-signing");
        Assert.Equal(set.Status!.ActiveKeyId, kid);
        Assert.NotNull(pem);

        // What the replica keeps: the signing Secret and the key store, by name and digest, no data.
        var cached = op.Cache.CachedSecrets.ToList();
        Assert.Contains(cached, s => s.Metadata.Name == "auth-signing");
        Assert.Contains(cached, s => s.Metadata.Name == "auth-keyrotator-keys");
        Assert.All(cached, s =>
        {
            Assert.Null(s.Data);
            Assert.Null(s.StringData);
            Assert.True(s.Metadata.Annotations?.ContainsKey(Operator.Informers.SecretData.DigestAnnotation), s.Metadata.Name);
        });

        // The digest lives only in memory: the API server's copies never carry it.
        var signing = await env.Admin.CoreV1.ReadNamespacedSecretAsync("auth-signing", ns, cancellationToken: ct);
        Assert.False(signing.Metadata.Annotations?.ContainsKey(Operator.Informers.SecretData.DigestAnnotation) ?? false);

        // Someone overwrites the private key: the digest differs, the operator reads the vault and puts it back.
        reads.Clear();
        signing.Data[Operator.Publishing.SigningSecretPublisher.PrivateKeyKey] = System.Text.Encoding.UTF8.GetBytes("not a key");
        await env.Admin.CoreV1.ReplaceNamespacedSecretAsync(signing, "auth-signing", ns, cancellationToken: ct);
        await Eventually.HoldsAsync(() => scenario.SigningAsync("auth-signing"), s => s.Pem == pem, TimeSpan.FromSeconds(20), "the signing Secret put back", ct);
        Assert.Contains($"GET /api/v1/namespaces/{ns}/secrets/auth-keyrotator-keys", reads.Seen);
        var restored = await env.Admin.CoreV1.ReadNamespacedSecretAsync("auth-signing", ns, cancellationToken: ct);
        Assert.False(restored.Metadata.Annotations?.ContainsKey(Operator.Informers.SecretData.DigestAnnotation) ?? false);
    }

    /// <summary>Records the GETs and LISTs (not the watches) of sets, ConfigMaps and Secrets.</summary>
    private sealed class ReadRecorder : DelegatingHandler
    {
        public ConcurrentQueue<string> Seen { get; private set; } = new();

        public void Clear() => Seen = new();

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var uri = request.RequestUri!;
            var path = uri.AbsolutePath;
            if (request.Method == HttpMethod.Get && !uri.Query.Contains("watch=true", StringComparison.Ordinal)
                && (path.Contains("/configmaps", StringComparison.Ordinal) || path.Contains("/secrets", StringComparison.Ordinal) || path.Contains("/signingkeysets", StringComparison.Ordinal)))
                Seen.Enqueue($"GET {uri.PathAndQuery}");
            return base.SendAsync(request, cancellationToken);
        }
    }
}
