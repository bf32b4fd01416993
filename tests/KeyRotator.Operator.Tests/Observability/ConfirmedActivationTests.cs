using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using k8s;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;
using Microsoft.AspNetCore.Builder;

namespace KeyRotator.Operator.Tests.Observability;

/// <summary>rotation.activation: Confirmed on the real API server, verifiers heartbeating over real HTTP.</summary>
public sealed class ConfirmedActivationTests(KubernetesEnvironment env)
{
    [Fact]
    [Trait("Category", "Timing")] // a timing guarantee of the product, measured: see CONTRIBUTING.md, "Timing tests"
    public async Task A_stale_verifier_holds_activation_until_maxActivationDelay_and_healthy_verifiers_let_it_happen_on_time()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("confirmed", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns], settings: new Dictionary<string, string?> { ["KeyRotator:Reports:PropagationWindow"] = "00:00:20" });
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "6s", Activation = "Confirmed", MaxActivationDelay = "12s", OnTimeout = "Activate" })
            .Build(), ct);
        var first = await scenario.WaitForActiveKeyAsync("auth");
        var tokens = new List<string>();
        for (var i = 1; i <= 3; i++)
            tokens.Add(await ServiceAccounts.TokenAsync(env, ns, $"verifier-{i}", "keyrotator", grantReporter: true));
        using var http = new HttpClient { BaseAddress = op.BaseAddress };

        // Three verifiers heartbeat every second; the third never reloads its JWKS while `frozen` is set.
        var hashes = new string[3];
        var frozen = true;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var beating = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var current = await HashAsync(ns, stop.Token);
                for (var i = 0; i < 3; i++)
                {
                    if (i < 2 || !frozen || hashes[i] is null)
                        hashes[i] = current;
                    using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/namespaces/{ns}/signingkeysets/auth/signaturefailures")
                    {
                        Content = JsonContent.Create(new { failures = Array.Empty<object>(), instance = $"v{i + 1}", jwksHash = hashes[i] }),
                    };
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", tokens[i]);
                    using var response = await http.SendAsync(request, stop.Token);
                    Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
                }

                await Task.Delay(1000, stop.Token);
            }
        }, CancellationToken.None);
        try
        {
            await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.Propagation?.Verifiers == 3, TimeSpan.FromSeconds(15), "three verifiers heard", ct);

            // A rotation with one stale verifier: due after prePublish (6 s), it waits, then activates at the 12 s bound.
            var pending = await RotateNowAsync(scenario, "stale", ct);
            var due = pending.Status!.Keys!.Single(k => k.Kid == pending.Status.NextKeyId).ActivatesAt!.Value;
            var waiting = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"),
                s => ConditionSet.Find(s.Status?.Conditions, ConditionSet.Rotating) is { Reason: "WaitingForVerifiers" }, TimeSpan.FromSeconds(20), "waiting for verifiers", ct);
            Assert.Equal(pending.Status.NextKeyId, waiting.Status!.NextKeyId);
            Assert.Equal(first.Status!.ActiveKeyId, waiting.Status.ActiveKeyId);
            Assert.Equal(2, waiting.Status.Propagation!.VerifiersWithNextKey);
            Assert.Equal(3, waiting.Status.Propagation.Verifiers);
            Assert.Contains($"system:serviceaccount:{ns}:verifier-3/v3", ConditionSet.Find(waiting.Status.Conditions, ConditionSet.Rotating)!.Message, StringComparison.Ordinal);
            var metrics = await http.GetMetricsAsync(env, ct);
            Assert.Contains($"keyrotator_verifiers_with_next_key{{namespace=\"{ns}\",name=\"auth\"}} 2", metrics, StringComparison.Ordinal);

            var activated = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.ActiveKeyId == pending.Status.NextKeyId, TimeSpan.FromSeconds(30), "activation at the bound", ct);
            var activatedAt = activated.Status!.Keys!.Single(k => k.Kid == activated.Status.ActiveKeyId).ActivatedAt!.Value;
            Assert.True(activatedAt >= due + TimeSpan.FromSeconds(12) - TimeSpan.FromMilliseconds(500), $"activated at {activatedAt:O}, due {due:O}: before maxActivationDelay");
            var incomplete = ConditionSet.Find(activated.Status.Conditions, ConditionSet.PropagationIncomplete)!;
            Assert.Equal("True", incomplete.Status);
            Assert.Equal("VerifiersStale", incomplete.Reason);
            Assert.Contains("verifier-3/v3", incomplete.Message, StringComparison.Ordinal);
            Assert.Single(await scenario.WaitForEventAsync("auth", "PropagationIncomplete", ct), e => e.Reason == "PropagationIncomplete");
            metrics = await http.GetMetricsAsync(env, ct);
            Assert.Contains($"keyrotator_propagation_incomplete{{namespace=\"{ns}\",name=\"auth\"}} 1", metrics, StringComparison.Ordinal);

            // The stale verifier reloads; the next rotation activates within a few seconds of its due time.
            frozen = false;
            await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.Propagation?.VerifiersWithActiveKey == 3, TimeSpan.FromSeconds(15), "every verifier current", ct);
            var next = await RotateNowAsync(scenario, "healthy", ct);
            var nextDue = next.Status!.Keys!.Single(k => k.Kid == next.Status.NextKeyId).ActivatesAt!.Value;
            var onTime = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.ActiveKeyId == next.Status.NextKeyId, TimeSpan.FromSeconds(20), "activation on time", ct);
            var onTimeAt = onTime.Status!.Keys!.Single(k => k.Kid == onTime.Status.ActiveKeyId).ActivatedAt!.Value;
            // On time means: not before it was due (what the operator recorded, not the test's clock), and
            // confirmed rather than forced at the bound: a forced activation sets PropagationIncomplete (above).
            Assert.True(onTimeAt >= nextDue, $"activated at {onTimeAt:O}, before it was due at {nextDue:O}");
            Assert.Equal("False", ConditionSet.Find(onTime.Status.Conditions, ConditionSet.PropagationIncomplete)!.Status);
        }
        finally
        {
            await stop.CancelAsync();
            try
            {
                await beating;
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    [Fact]
    public async Task Three_sample_verifiers_one_never_reloading_hold_a_Confirmed_activation_past_the_bound_with_onTimeout_Wait()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("confirmed-samples", ct);
        var scenario = new OperatorScenario(env, ns);
        // The built operator in its own process; the sample verifiers talk to it over HTTP.
        await using var op = await OperatorProcess.StartServingAsync(env, "operator-samples", [ns], new Dictionary<string, string?> { ["KeyRotator:Reports:PropagationWindow"] = "00:00:20" });
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "4s", Activation = "Confirmed", MaxActivationDelay = "8s", OnTimeout = "Wait" })
            .Build(), ct);
        await scenario.WaitForActiveKeyAsync("auth");

        // Two verifiers read the JWKS from a volume the "kubelet" keeps current; the third from a copy nobody updates.
        await using var volume = VolumeMirror.ForConfigMap(env.Admin, ns, "auth-jwks");
        await Eventually.HoldsAsync(() => Task.FromResult(volume.Updates), n => n >= 1, TimeSpan.FromSeconds(10), "the volume populated", ct);
        var frozen = Directory.CreateTempSubdirectory("frozen-jwks-").FullName;
        await File.WriteAllTextAsync(Path.Combine(frozen, "jwks.json"), await File.ReadAllTextAsync(Path.Combine(volume.Directory, "jwks.json"), ct), ct);
        var tokenFile = Path.Combine(frozen, "report-token");
        await File.WriteAllTextAsync(tokenFile, await ServiceAccounts.TokenAsync(env, ns, "verifier", "keyrotator", grantReporter: true), ct);
        var verifiers = new List<WebApplication>();
        foreach (var (instance, directory) in new[] { ("v1", volume.Directory), ("v2", volume.Directory), ("v3", frozen) })
        {
            var app = KeyRotator.Samples.Verifier.VerifierApp.Build([
                "--urls", "http://127.0.0.1:0",
                "--Verifier:JwksPath", Path.Combine(directory, "jwks.json"),
                "--Verifier:ReportEndpoint", op.BaseAddress!.ToString(),
                "--Verifier:SetNamespace", ns,
                "--Verifier:SetName", "auth",
                "--Verifier:ReportTokenPath", tokenFile,
                "--Verifier:ReportIntervalSeconds", "1",
                "--Verifier:Instance", instance,
            ]);
            await app.StartAsync(ct);
            verifiers.Add(app);
        }

        try
        {
            await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.Propagation?.Verifiers == 3, TimeSpan.FromSeconds(15), "three sample verifiers heard", ct);
            var pending = await RotateNowAsync(scenario, "samples", ct);
            var next = pending.Status!.NextKeyId!;
            var due = pending.Status.Keys!.Single(k => k.Kid == next).ActivatesAt!.Value;

            // Past the due time, 2 of 3: it waits; past the bound it still waits (onTimeout: Wait) and says so.
            var waiting = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"),
                s => ConditionSet.Find(s.Status?.Conditions, ConditionSet.Rotating) is { Reason: "WaitingForVerifiers" }, TimeSpan.FromSeconds(15), "waiting for verifiers", ct);
            Assert.Equal(2, waiting.Status!.Propagation!.VerifiersWithNextKey);
            using var http = new HttpClient { BaseAddress = op.BaseAddress };
            var metrics = await http.GetMetricsAsync(env, ct);
            Assert.Contains($"keyrotator_verifiers{{namespace=\"{ns}\",name=\"auth\"}} 3", metrics, StringComparison.Ordinal);
            Assert.Contains($"keyrotator_verifiers_with_next_key{{namespace=\"{ns}\",name=\"auth\"}} 2", metrics, StringComparison.Ordinal);
            var incomplete = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"),
                s => ConditionSet.IsTrue(s.Status?.Conditions, ConditionSet.PropagationIncomplete), TimeSpan.FromSeconds(25), "PropagationIncomplete at the bound", ct);
            // Raised at the bound, not before it (the condition's time has whole seconds).
            Assert.True(ConditionSet.Find(incomplete.Status!.Conditions, ConditionSet.PropagationIncomplete)!.LastTransitionTime >= due + TimeSpan.FromSeconds(8) - TimeSpan.FromSeconds(1),
                $"PropagationIncomplete raised before maxActivationDelay (due {due:O})");
            Assert.Equal(next, incomplete.Status!.NextKeyId);
            Assert.NotEqual(next, incomplete.Status.ActiveKeyId);
            Assert.Contains("onTimeout: Wait", ConditionSet.Find(incomplete.Status.Conditions, ConditionSet.PropagationIncomplete)!.Message, StringComparison.Ordinal);
            Assert.Contains("verifier/v3", ConditionSet.Find(incomplete.Status.Conditions, ConditionSet.PropagationIncomplete)!.Message, StringComparison.Ordinal);
            Assert.Single(await scenario.WaitForEventAsync("auth", "PropagationIncomplete", ct), e => e.Reason == "PropagationIncomplete");

            // The third verifier gets the current JWKS: the key activates, and the condition clears.
            await File.WriteAllTextAsync(Path.Combine(frozen, "jwks.json"), await File.ReadAllTextAsync(Path.Combine(volume.Directory, "jwks.json"), ct), ct);
            var activated = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.ActiveKeyId == next, TimeSpan.FromSeconds(30), "activation once every verifier holds the key", ct);
            Assert.Equal("False", ConditionSet.Find(activated.Status!.Conditions, ConditionSet.PropagationIncomplete)!.Status);

            // With three healthy verifiers (the third's file now updated as soon as the ConfigMap changes) the next key activates on time.
            var healthy = await RotateNowAsync(scenario, "samples-healthy", ct);
            await Eventually.HoldsAsync(() => File.ReadAllTextAsync(Path.Combine(volume.Directory, "jwks.json"), ct), j => j.Contains(healthy.Status!.NextKeyId!, StringComparison.Ordinal), TimeSpan.FromSeconds(5), "the volume updated", ct);
            await File.WriteAllTextAsync(Path.Combine(frozen, "jwks.json"), await File.ReadAllTextAsync(Path.Combine(volume.Directory, "jwks.json"), ct), ct);
            var healthyDue = healthy.Status!.Keys!.Single(k => k.Kid == healthy.Status.NextKeyId).ActivatesAt!.Value;
            var onTime = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.ActiveKeyId == healthy.Status.NextKeyId, TimeSpan.FromSeconds(20), "activation on time", ct);
            // Not before it was due, and confirmed, not forced at the bound (a forced activation sets PropagationIncomplete).
            Assert.True(onTime.Status!.Keys!.Single(k => k.Kid == onTime.Status.ActiveKeyId).ActivatedAt!.Value >= healthyDue, "activated before it was due");
            Assert.Equal("False", ConditionSet.Find(onTime.Status.Conditions, ConditionSet.PropagationIncomplete)!.Status);
        }
        finally
        {
            foreach (var app in verifiers)
                await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_signer_that_has_not_switched_keeps_the_old_key_published_past_its_overlap_and_status_says_why()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("signers", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns], settings: new Dictionary<string, string?> { ["KeyRotator:Reports:PropagationWindow"] = "00:00:20" });
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "2s", Overlap = "8s", MaxActivationDelay = "30s" })
            .WithSpec(s => s with { MaxTokenLifetime = "5s", ClockSkew = "1s" })
            .Build(), ct);
        var first = await scenario.WaitForActiveKeyAsync("auth");
        var old = first.Status!.ActiveKeyId!;
        var token = await ServiceAccounts.TokenAsync(env, ns, "signer", "keyrotator", grantReporter: true);
        using var http = new HttpClient { BaseAddress = op.BaseAddress };
        var signingWith = old;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var beating = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/namespaces/{ns}/signingkeysets/auth/signaturefailures")
                {
                    Content = JsonContent.Create(new { failures = Array.Empty<object>(), instance = "signer-0", signingKid = signingWith }),
                };
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                using var response = await http.SendAsync(request, stop.Token);
                Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
                await Task.Delay(1000, stop.Token);
            }
        }, CancellationToken.None);
        try
        {
            await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.Propagation?.Signers == 1, TimeSpan.FromSeconds(15), "the signer heard", ct);
            var rotated = await scenario.RotateNowAsync("auth", old, ct);
            var activatedAt = rotated.Status!.Keys!.Single(k => k.Kid == rotated.Status.ActiveKeyId).ActivatedAt!.Value;

            // Past the nominal overlap (8 s) the old key is still published, and status says why: wait for the
            // operator to say it (the condition) and for the overlap to have passed, then look at the JWKS.
            var held = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"),
                s => ConditionSet.Find(s.Status?.Conditions, ConditionSet.PropagationIncomplete) is { Status: "True", Reason: "SignersNotSwitched" }
                    && DateTimeOffset.UtcNow >= activatedAt + TimeSpan.FromSeconds(8),
                TimeSpan.FromSeconds(30), "SignersNotSwitched past the nominal overlap", ct);
            Assert.Contains(old, (await scenario.JwksJsonAsync("auth-jwks"))!, StringComparison.Ordinal);
            Assert.Equal("Retiring", held.Status!.Keys!.Single(k => k.Kid == old).State);
            var condition = ConditionSet.Find(held.Status.Conditions, ConditionSet.PropagationIncomplete)!;
            Assert.Equal(("True", "SignersNotSwitched"), (condition.Status, condition.Reason));
            Assert.Contains($"system:serviceaccount:{ns}:signer/signer-0", condition.Message, StringComparison.Ordinal);
            Assert.Contains(await scenario.WaitForEventAsync("auth", "SignersNotSwitched", ct), e => e.Reason == "SignersNotSwitched");

            // The signer switches: the old key leaves at the end of the extended overlap, within the bound.
            signingWith = rotated.Status.ActiveKeyId!;
            await Eventually.HoldsAsync(() => scenario.JwksJsonAsync("auth-jwks"), j => !j!.Contains(old, StringComparison.Ordinal), TimeSpan.FromSeconds(60), "the old key retired once the signer switched", ct);
            var done = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"),
                s => ConditionSet.Find(s.Status?.Conditions, ConditionSet.PropagationIncomplete) is { Status: "False" }, TimeSpan.FromSeconds(10), "the condition clearing", ct);
            Assert.Equal(1, done.Status!.Propagation!.SignersOnActiveKey);
        }
        finally
        {
            await stop.CancelAsync();
            try
            {
                await beating;
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    private static async Task<KeyRotator.Model.Resources.V1Alpha1SigningKeySet> RotateNowAsync(OperatorScenario scenario, string request, CancellationToken ct)
    {
        var set = await scenario.GetAsync("auth");
        await scenario.EditAsync(set.Metadata.Name, s =>
        {
            s.Metadata.Annotations ??= new Dictionary<string, string>();
            s.Metadata.Annotations[Labels.RotateNowAnnotation] = request;
        }, ct);
        return await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.NextKeyId is not null, TimeSpan.FromSeconds(15), "a pending key", ct);
    }

    private async Task<string> HashAsync(string ns, CancellationToken ct) =>
        (await env.Admin.CoreV1.ReadNamespacedConfigMapAsync("auth-jwks", ns, cancellationToken: ct)).Metadata.Annotations[Labels.ContentHashAnnotation];
}
