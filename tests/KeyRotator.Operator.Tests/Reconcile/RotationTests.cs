using System.Collections.Concurrent;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Reconcile;

/// <summary>
/// The promise, end to end on the real API server: across several rotations a signer that reads only
/// the signing Secret and a verifier that reads only the JWKS ConfigMap never disagree.
/// </summary>
public sealed class RotationTests(KubernetesEnvironment env)
{
    private static readonly TimeSpan PrePublish = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Overlap = TimeSpan.FromSeconds(8);
    private static readonly TimeSpan TokenLifetime = TimeSpan.FromSeconds(5);

    // Watch events reach the test a few milliseconds apart from the writes that caused them.
    private static readonly TimeSpan WatchJitter = TimeSpan.FromMilliseconds(250);

    [Fact]
    [Trait("Category", "Timing")] // a timing guarantee of the product, measured: see CONTRIBUTING.md, "Timing tests"
    public async Task Three_rotations_keep_every_key_published_before_it_signs_and_after_it_stops_with_zero_verification_failures()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("rotation", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var timeline = new RotationTimeline(env.Admin, ns, "auth-jwks", "auth-signing");
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "20s", PrePublish = "5s", Overlap = "8s" })
            .WithSpec(s => s with { MaxTokenLifetime = "5s", ClockSkew = "1s" })
            .Build(), ct);

        var failures = new ConcurrentQueue<string>();
        var verified = 0;
        var scanner = new SecretLeakScanner();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var traffic = RunSignerAndVerifierAsync(scenario, scanner, failures, () => Interlocked.Increment(ref verified), stop.Token);

        await Eventually.HoldsAsync(() => Task.FromResult(timeline.Activations().Count), n => n >= 4, TimeSpan.FromSeconds(110), "three rotations after the first key", ct);
        await stop.CancelAsync();
        await traffic;

        var activations = timeline.Activations();
        for (var i = 0; i < activations.Count; i++)
        {
            var (kid, from) = activations[i];
            var published = timeline.FirstPublished(kid);
            Assert.True(published is not null, $"{kid} signed but was never seen in the JWKS");
            Assert.True(from - published >= PrePublish - WatchJitter, $"{kid} was published {from - published} before it signed (prePublish {PrePublish})");

            if (i + 1 < activations.Count && timeline.Unpublished(kid, activations[i + 1].From) is { } gone)
                Assert.True(gone - activations[i + 1].From >= Overlap - WatchJitter, $"{kid} left the JWKS {gone - activations[i + 1].From} after it stopped signing (overlap {Overlap})");
        }

        // At every moment a signer could sign, the JWKS a verifier could read held the signing key.
        foreach (var (at, kid) in timeline.Signing)
            Assert.Contains(kid, timeline.PublishedAt(at + WatchJitter) ?? []);
        foreach (var (at, kids) in timeline.Published.Where(p => p.At > activations[0].From))
            Assert.Contains(timeline.SigningAt(at)!, kids);

        Assert.Contains(activations, a => timeline.Unpublished(a.Kid, a.From) is not null);
        Assert.True(verified > 50, $"only {verified} verifications");
        Assert.True(failures.IsEmpty, $"{failures.Count} verification failures:\n{string.Join('\n', failures.Take(10))}");

        var set = await scenario.GetAsync("auth");
        Assert.Contains(set.Status!.Keys!, k => k.State == "Retired");
        Assert.Equal(set.Status.Keys!.Count, set.Status.Keys.Select(k => k.Generation).Distinct().Count());

        // Invariant 4: no private key material anywhere but Secrets.
        // The signer may stop before it reads the newest key; it has seen every earlier one.
        Assert.True(scanner.KnownKeys >= activations.Count - 1, $"the scan knows the private keys it looks for ({scanner.KnownKeys} of {activations.Count})");
        var leaks = scanner.Find(await SecretLeakScanner.CollectAsync(env.Admin, [ns], op.Logs.Lines));
        Assert.True(leaks.Count == 0, string.Join('\n', leaks));
    }

    private static async Task RunSignerAndVerifierAsync(
        OperatorScenario scenario, SecretLeakScanner scanner, ConcurrentQueue<string> failures, Action countVerified, CancellationToken cancellationToken)
    {
        const string issuer = "https://auth.example.com";
        const string audience = "payments";
        var issued = new List<(DateTime At, string Kid, string Token)>();
        string? cachedJwks = null;
        var cachedAt = DateTime.MinValue;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var now = DateTime.UtcNow;
                var (kid, pem, alg) = await scenario.SigningAsync("auth-signing");
                if (kid is not null && pem is not null)
                {
                    scanner.Learn(pem);
                    issued.Add((now, kid, TokenSigner.Sign(pem, kid, alg!, issuer, audience, now, TokenLifetime)));
                }

                // The verifier caches the JWKS for up to prePublish - 1 s, as a mounted file with a lazy reader would.
                if (cachedJwks is null || now - cachedAt >= PrePublish - TimeSpan.FromSeconds(1))
                {
                    if (await scenario.JwksJsonAsync("auth-jwks") is { } json)
                        (cachedJwks, cachedAt) = (json, now);
                }

                issued.RemoveAll(t => t.At + TokenLifetime < now);
                if (cachedJwks is not null)
                {
                    foreach (var (at, tokenKid, token) in issued)
                    {
                        var result = await TokenSigner.VerifyAsync(token, cachedJwks, "ES256", issuer, audience, now);
                        if (result.IsValid)
                            countVerified();
                        else
                            failures.Enqueue($"token by {tokenKid} issued {now - at} ago: {result.Exception?.GetType().Name}: {result.Exception?.Message}");
                    }
                }

                await Task.Delay(250, cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
