using System.Collections.Concurrent;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Reconcile;

/// <summary>
/// A reconcile reads the set and what it publishes from the informers: once a set has converged, the
/// reconciles that follow send the API server no LIST and no GET of the set, its JWKS ConfigMaps or its
/// signing Secret (only watches stay open). The one read left is the vault itself, which for the
/// Kubernetes provider is the key-store Secret.
/// </summary>
public sealed class CacheReadTests(KubernetesEnvironment env)
{
    [Fact]
    public async Task Reconciles_of_a_converged_set_read_only_the_vault_from_the_API_server()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("cache-reads", ct);
        var target = await env.CreateNamespaceAsync("cache-copy", new Dictionary<string, string> { [Operator.Kubernetes.Labels.AcceptJwksFromAnnotation] = ns }, ct);
        var scenario = new OperatorScenario(env, ns);
        var reads = new ReadRecorder();
        await using var op = await OperatorInstance.StartAsync(env, [ns, target], handlers: [reads]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { Jwks = new Core.Model.JwksSpec { TargetNamespaces = [target] } })
            .Build(), ct);
        await scenario.WaitForActiveKeyAsync("auth");
        await Eventually.HoldsAsync(() => scenario.JwksJsonAsync("auth-jwks", target), j => j is not null, TimeSpan.FromSeconds(10), "the copy", ct);
        await Eventually.HoldsAsync(() => Task.FromResult(op.Controller.Queue.Depth), d => d == 0, TimeSpan.FromSeconds(10), "a quiet queue", ct);

        // Ten more reconciles of the converged set.
        reads.Clear();
        var before = op.Controller.Reconciles;
        for (var i = 0; i < 10; i++)
        {
            op.Controller.Enqueue(new Operator.Controllers.SetKey(ns, "auth"));
            var reconciled = before + i + 1;
            await Eventually.HoldsAsync(() => Task.FromResult(op.Controller.Reconciles), r => r >= reconciled, TimeSpan.FromSeconds(10), "a reconcile", ct);
        }

        var keyStore = $"GET /api/v1/namespaces/{ns}/secrets/auth-keyrotator-keys";
        Assert.True(reads.Seen.All(r => r == keyStore), "reads during steady-state reconciles:\n" + string.Join('\n', reads.Seen.Where(r => r != keyStore)));
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
