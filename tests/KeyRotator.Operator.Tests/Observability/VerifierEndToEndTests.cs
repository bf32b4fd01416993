using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Claims;
using System.Text;
using k8s;
using k8s.Models;
using KeyRotator.Client;
using KeyRotator.Core.Keys;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Samples.Verifier;
using KeyRotator.Testing;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace KeyRotator.Operator.Tests.Observability;

/// <summary>
/// The sample verifier (samples/verifier) reads the JWKS from a volume laid out as the kubelet lays it
/// out, and reports failures to the operator with a real bound service-account token.
/// </summary>
public sealed class VerifierEndToEndTests(KubernetesEnvironment env)
{
    private const string Issuer = "https://auth.example.com";
    private const string Audience = "verifier";

    [Fact]
    public async Task Sample_verifier_accepts_tokens_across_rotations_rejects_each_forgery_for_its_reason_and_the_operator_sees_the_spike()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("verifier-e2e", ct);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        var scenario = new OperatorScenario(env, ns);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "2s", Overlap = "8s" })
            .WithSpec(s => s with { MaxTokenLifetime = "5s", ClockSkew = "1s", SignatureFailureAlert = new SignatureFailureAlertSpec { Window = "15s", Threshold = 20, Ratio = 5 } })
            .Build(), ct);
        await scenario.WaitForActiveKeyAsync("auth");

        await using var jwksVolume = VolumeMirror.ForConfigMap(env.Admin, ns, "auth-jwks");
        await using var signingVolume = VolumeMirror.ForSecret(env.Admin, ns, "auth-signing");
        await Eventually.HoldsAsync(() => Task.FromResult(jwksVolume.Updates + signingVolume.Updates), n => n >= 2, TimeSpan.FromSeconds(10), "volumes populated", ct);
        var tokenFile = Path.Combine(jwksVolume.Directory, "..report-token");
        await File.WriteAllTextAsync(tokenFile, await ReporterTokenAsync(ns), ct);

        await using var verifier = VerifierApp.Build([
            "--urls", "http://127.0.0.1:0",
            "--Verifier:JwksPath", Path.Combine(jwksVolume.Directory, "jwks.json"),
            "--Verifier:Issuer", Issuer,
            "--Verifier:Audience", Audience,
            "--Verifier:ReportEndpoint", op.BaseAddress.ToString(),
            "--Verifier:SetNamespace", ns,
            "--Verifier:SetName", "auth",
            "--Verifier:ReportTokenPath", tokenFile,
            "--Verifier:ReportIntervalSeconds", "1",
        ]);
        await verifier.StartAsync(ct);
        using var http = new HttpClient { BaseAddress = new Uri(verifier.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()) };
        var signer = new KeyRotatorSigner(signingVolume.Directory);

        // Genuine traffic across three manual rotations: every token accepted.
        var accepted = 0;
        var rejected = new List<string>();
        var kids = new HashSet<string>();
        for (var rotation = 0; rotation < 3; rotation++)
        {
            var set = await scenario.GetAsync("auth");
            var before = set.Status!.ActiveKeyId!;
            await scenario.EditAsync(set.Metadata.Name, s => s.Metadata.Annotations = new Dictionary<string, string> { [Labels.RotateNowAnnotation] = rotation.ToString(CultureInfo.InvariantCulture) }, ct);
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (DateTime.UtcNow < deadline && File.ReadAllText(Path.Combine(signingVolume.Directory, "kid")) == before)
                (accepted, rejected) = await CallAsync(http, signer.CreateToken(Issuer, Audience, TimeSpan.FromSeconds(5), [new Claim("sub", "alice")]), accepted, rejected, kids, signingVolume.Directory);
            for (var i = 0; i < 5; i++)
                (accepted, rejected) = await CallAsync(http, signer.CreateToken(Issuer, Audience, TimeSpan.FromSeconds(5), [new Claim("sub", "alice")]), accepted, rejected, kids, signingVolume.Directory);
        }

        Assert.True(rejected.Count == 0, $"{rejected.Count} genuine tokens rejected: {string.Join("; ", rejected.Take(5))}");
        Assert.True(kids.Count >= 4, $"tokens were signed by {kids.Count} keys");
        Assert.True(accepted > 20, $"only {accepted} calls");
        Assert.False(ConditionSet.IsTrue((await scenario.GetAsync("auth")).Status!.Conditions, ConditionSet.SignatureFailureSpike));

        // Forgeries: each rejected, each counted by the operator under its own reason.
        var (kid, pem, alg) = await scenario.SigningAsync("auth-signing");
        var forged = Forgeries(kid!, pem!, alg!, (await scenario.JwksAsync("auth-jwks"))!.Keys.First(k => k.Kid == kid));
        foreach (var (_, token) in forged)
        {
            for (var i = 0; i < 5; i++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, "/hello");
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(request, ct)).StatusCode);
            }
        }

        using var operatorHttp = new HttpClient { BaseAddress = op.BaseAddress };
        var expected = new Dictionary<string, int> { ["bad_signature"] = 5, ["alg_rejected"] = 10, ["unknown_kid"] = 5, ["expired"] = 5, ["audience"] = 5 };
        var metrics = await Eventually.HoldsAsync(() => operatorHttp.GetMetricsAsync(env, ct),
            t => expected.All(e => Count(t, ns, e.Key) >= e.Value), TimeSpan.FromSeconds(10), "every forgery counted by reason", ct);
        foreach (var (reason, count) in expected)
            Assert.Equal(count, Count(metrics, ns, reason));

        var spiking = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"),
            s => ConditionSet.IsTrue(s.Status?.Conditions, ConditionSet.SignatureFailureSpike), TimeSpan.FromSeconds(15), "SignatureFailureSpike raised within its window", ct);
        Assert.Contains("alg_rejected", ConditionSet.Find(spiking.Status!.Conditions, ConditionSet.SignatureFailureSpike)!.Message, StringComparison.Ordinal);
        await Eventually.HoldsAsync(() => scenario.GetAsync("auth"),
            s => !ConditionSet.IsTrue(s.Status?.Conditions, ConditionSet.SignatureFailureSpike), TimeSpan.FromSeconds(30), "the spike clearing once the window is quiet", ct);
        await verifier.StopAsync(ct);
    }

    private static async Task<(int, List<string>)> CallAsync(HttpClient http, string token, int accepted, List<string> rejected, HashSet<string> kids, string signing)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/hello");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request);
        kids.Add(new JsonWebToken(token).Kid);
        if (response.StatusCode == HttpStatusCode.OK)
            accepted++;
        else
            rejected.Add($"{response.StatusCode} {response.Headers.WwwAuthenticate} (kid {new JsonWebToken(token).Kid})");
        await Task.Delay(100);
        return (accepted, rejected);
    }

    private static List<(string Name, string Token)> Forgeries(string kid, string pem, string alg, Jwk publicJwk)
    {
        var now = DateTime.UtcNow;
        var valid = TokenSigner.Sign(pem, kid, alg, Issuer, Audience, now, TimeSpan.FromSeconds(5));
        var parts = valid.Split('.');
        var signature = Base64Url.Decode(parts[2]);
        signature[3] ^= 0xFF;
        var none = Base64Url.Encode(Encoding.UTF8.GetBytes($"{{\"alg\":\"none\",\"kid\":\"{kid}\",\"typ\":\"JWT\"}}"));
        var stranger = PrivateSigningKey.Generate(JwsAlgorithm.Parse(alg), 2048);
        var hs256 = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = Audience,
            Expires = now.AddSeconds(5),
            Subject = new ClaimsIdentity([new Claim("sub", "mallory")]),
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(publicJwk.ToJson())) { KeyId = kid }, SecurityAlgorithms.HmacSha256),
        });
        return
        [
            ("bad signature", $"{parts[0]}.{parts[1]}.{Base64Url.Encode(signature)}"),
            ("alg none", $"{none}.{parts[1]}."),
            ("HS256 with the public key as secret", hs256),
            ("unknown kid", TokenSigner.Sign(stranger.ExportPkcs8Pem(), stranger.Kid, alg, Issuer, Audience, now, TimeSpan.FromSeconds(5))),
            ("expired", TokenSigner.Sign(pem, kid, alg, Issuer, Audience, now.AddMinutes(-10), TimeSpan.FromSeconds(5))),
            ("wrong audience", TokenSigner.Sign(pem, kid, alg, Issuer, "someone-else", now, TimeSpan.FromSeconds(5))),
        ];
    }

    private static double Count(string metrics, string ns, string reason)
    {
        var prefix = $"keyrotator_signature_failures_total{{namespace=\"{ns}\",name=\"auth\",reason=\"{reason}\"}} ";
        var line = metrics.Split('\n').FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));
        return line is null ? 0 : double.Parse(line[prefix.Length..], CultureInfo.InvariantCulture);
    }

    private Task<string> ReporterTokenAsync(string ns) => ServiceAccounts.TokenAsync(env, ns, "verifier", "keyrotator", grantReporter: true);
}
