using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using k8s;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Publishing;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Observability;

/// <summary>A rotation that verifiers reject (unknown_kid) is rolled back, and activated again once they hold the key.</summary>
public sealed class RollbackTests(KubernetesEnvironment env)
{
    private const string Issuer = "https://auth.example.com";
    private const string Audience = "payments";

    [Fact]
    public async Task Unknown_kid_reports_after_a_rotation_roll_signing_back_until_every_verifier_holds_the_new_key()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("rollback", ct);
        var scenario = new OperatorScenario(env, ns);
        // The built operator in its own process; verifiers report to it over HTTP.
        await using var op = await OperatorProcess.StartServingAsync(env, "operator-rollback", [ns], new Dictionary<string, string?> { ["KeyRotator:Reports:PropagationWindow"] = "00:00:20" });
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "2s", MaxActivationDelay = "5m" })
            .WithSpec(s => s with { SignatureFailureAlert = new KeyRotator.Model.Resources.SignatureFailureAlertSpec { Window = "10s", Threshold = 5, Ratio = 5 } })
            .Build(), ct);
        var first = await scenario.WaitForActiveKeyAsync("auth");
        var tokens = new List<string>();
        for (var i = 1; i <= 3; i++)
            tokens.Add(await ServiceAccounts.TokenAsync(env, ns, $"verifier-{i}", "keyrotator", grantReporter: true));
        using var http = new HttpClient { BaseAddress = op.BaseAddress };

        // Three verifiers validate a token from the signing Secret every 250 ms; the third holds a frozen JWKS
        // while `frozen` is set and reports its unknown_kid rejections, as KeyRotator.Client would.
        var frozenJwks = await JwksAsync(ns, ct);
        var frozen = true;
        var healthyFailures = new List<string>();
        var staleFailures = 0;
        var signingKids = new List<(DateTimeOffset At, string Kid)>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var verifying = Task.Run(async () =>
        {
            var lastReport = DateTime.UtcNow;
            var pending = new Dictionary<string, long>();
            while (!stop.IsCancellationRequested)
            {
                var (kid, pem, alg) = await scenario.SigningAsync("auth-signing");
                signingKids.Add((DateTimeOffset.UtcNow, kid!));
                var now = DateTime.UtcNow;
                var token = TokenSigner.Sign(pem!, kid!, alg!, Issuer, Audience, now, TimeSpan.FromMinutes(1));
                var current = await JwksAsync(ns, stop.Token);
                for (var i = 0; i < 2; i++)
                {
                    var result = await TokenSigner.VerifyAsync(token, current.Json, alg!, Issuer, Audience, now);
                    if (!result.IsValid)
                        healthyFailures.Add($"{now:HH:mm:ss.fff} v{i + 1} rejected a token of {kid}: {result.Exception?.Message}");
                }

                var held = frozen ? frozenJwks : current;
                if (!(await TokenSigner.VerifyAsync(token, held.Json, alg!, Issuer, Audience, now)).IsValid)
                {
                    staleFailures++;
                    pending[kid!] = pending.GetValueOrDefault(kid!) + 1;
                }

                if (DateTime.UtcNow - lastReport > TimeSpan.FromSeconds(1))
                {
                    lastReport = DateTime.UtcNow;
                    for (var i = 0; i < 3; i++)
                    {
                        var failures = i == 2 ? pending.Select(p => new { reason = "unknown_kid", kid = p.Key, count = p.Value }).ToArray() : [];
                        Assert.Equal(HttpStatusCode.Accepted, await FailureReports.PostAsync(http, ns, tokens[i], new { failures, instance = $"v{i + 1}", jwksHash = i == 2 ? held.Hash : current.Hash }, stop.Token));
                    }

                    pending.Clear();
                }

                await Task.Delay(250, stop.Token);
            }
        }, CancellationToken.None);
        // Waits until the verifiers have checked count more tokens.
        async Task VerificationsAsync(int count)
        {
            var seen = signingKids.Count;
            await Eventually.HoldsAsync(() => Task.FromResult(signingKids.Count), n => n >= seen + count, TimeSpan.FromSeconds(60), $"{count} more verifications", ct);
        }

        try
        {
            await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.Propagation?.Verifiers == 3, TimeSpan.FromSeconds(15), "three verifiers heard", ct);

            // A rotation while the third verifier is stale: it rejects the new key's tokens, and signing goes back.
            var rotate = await scenario.GetAsync("auth");
            await scenario.EditAsync(rotate.Metadata.Name, s =>
            {
                s.Metadata.Annotations ??= new Dictionary<string, string>();
                s.Metadata.Annotations[Labels.RotateNowAnnotation] = "while-stale";
            }, ct);
            var signing = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.ActiveKeyId is { } a && a != first.Status!.ActiveKeyId, TimeSpan.FromSeconds(30), "the new key signing", ct);
            var fresh = signing.Status!.ActiveKeyId!;
            var activatedAt = signing.Status.Keys!.Single(k => k.Kid == fresh).ActivatedAt!.Value;
            var rolledBack = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => ConditionSet.IsTrue(s.Status?.Conditions, ConditionSet.RolledBack), TimeSpan.FromSeconds(60), "a rollback", ct);
            var rolledBackAt = rolledBack.Status!.Keys!.Single(k => k.Kid == fresh).RolledBackAt!.Value;
            Assert.True(rolledBackAt >= activatedAt, $"rolled back at {rolledBackAt:O}, before it signed at {activatedAt:O}");
            Assert.Equal(first.Status!.ActiveKeyId, rolledBack.Status!.ActiveKeyId);
            Assert.Equal(fresh, rolledBack.Status.NextKeyId);
            var condition = ConditionSet.Find(rolledBack.Status.Conditions, ConditionSet.RolledBack)!;
            Assert.Contains("unknown_kid", condition.Message, StringComparison.Ordinal);
            Assert.Contains($"verifier-3/v3", condition.Message, StringComparison.Ordinal);
            Assert.Single(await scenario.WaitForEventAsync("auth", "RolledBack", ct), e => e.Reason == "RolledBack");
            await Eventually.HoldsAsync(() => scenario.SigningAsync("auth-signing"), s => s.Kid == first.Status.ActiveKeyId, TimeSpan.FromSeconds(5), "signing back on the previous key", ct);
            Assert.Contains(fresh, (await JwksAsync(ns, ct)).Json, StringComparison.Ordinal);

            // The stale verifier's failures stop: over a dozen more verifications (counted, not timed), at most
            // the one or two already under way when signing went back fail.
            var failuresAfterRollback = staleFailures;
            await VerificationsAsync(12);
            Assert.InRange(staleFailures - failuresAfterRollback, 0, 2);

            // It reloads; the new key signs again, and nobody rejects anything.
            frozen = false;
            var again = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.ActiveKeyId == fresh, TimeSpan.FromSeconds(20), "the new key activated again", ct);
            Assert.Equal("False", ConditionSet.Find(again.Status!.Conditions, ConditionSet.RolledBack)!.Status);
            var failuresAfterReload = staleFailures;
            await VerificationsAsync(8);
            Assert.Equal(failuresAfterReload, staleFailures);
            Assert.True(healthyFailures.Count == 0, string.Join('\n', healthyFailures.Take(10)));
            var metrics = await http.GetMetricsAsync(env, ct);
            Assert.True(metrics.Contains($"keyrotator_rotations_total{{namespace=\"{ns}\",name=\"auth\",trigger=\"rollback\"}} 1", StringComparison.Ordinal),
                string.Join('\n', metrics.Split('\n').Where(l => l.StartsWith("keyrotator_rotations_total", StringComparison.Ordinal)))
                + "\n" + string.Join('\n', (await scenario.EventsAsync("auth")).OrderBy(e => e.LastTimestamp).Take(12).Select(e => $"{e.LastTimestamp:HH:mm:ss.fff} {e.Reason}: {e.Message}")));
        }
        finally
        {
            await stop.CancelAsync();
            try
            {
                await verifying;
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    private async Task<(string Json, string Hash)> JwksAsync(string ns, CancellationToken ct)
    {
        var cm = await env.Admin.CoreV1.ReadNamespacedConfigMapAsync("auth-jwks", ns, cancellationToken: ct);
        return (cm.Data[JwksPublisher.JwksKey], cm.Metadata.Annotations[Labels.ContentHashAnnotation]);
    }
}
