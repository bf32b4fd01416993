using System.Text;
using Grpc.Core;
using k8s;
using k8s.Models;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.ServiceAccountSigner;

/// <summary>The signer when things fail: the API server unreachable, the HSM unable to sign.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class SignerVaultAndOutageTests(KubernetesEnvironment env)
{
    private const string Issuer = "https://kubernetes.default.svc";

    private static SigningKeySetBuilder IssuerSet(string ns) =>
        SigningKeySetBuilder.Named("cluster-issuer", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "3s", Overlap = "20m" })
            .WithSpec(s => s with { MaxTokenLifetime = "10m", ServiceAccountIssuer = true });

    [Fact]
    public async Task With_the_API_server_unreachable_the_signer_keeps_signing_with_the_key_it_last_saw_active()
    {
        var ct = TestContext.Current.CancellationToken;
        var plane = env.ControlPlane;
        Assert.SkipWhen(plane is null, "needs the envtest control plane (a proxy in front of its API server)");
        var ns = await env.CreateNamespaceAsync("sa-outage", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        await scenario.Sets.CreateAsync(IssuerSet(ns).Build(), ct);
        var active = (await scenario.WaitForActiveKeyAsync("cluster-issuer")).Status!.ActiveKeyId!;
        await using var proxy = await ApiServerProxy.StartAsync(plane.Server);
        var config = plane.ConfigFor(plane.OperatorToken);
        config.Host = proxy.Address.ToString();
        await using var signer = await SignerInstance.StartAsync(env, $"{ns}/cluster-issuer", config);
        using var apiServer = ApiServerStandIn.Dial(signer.Socket);
        await Eventually.HoldsAsync(() => FetchOrEmptyAsync(apiServer, ct), k => k.Contains(active), TimeSpan.FromSeconds(20), "the active key in FetchKeys", ct);

        proxy.Down = true;
        var until = DateTimeOffset.UtcNow.AddSeconds(20);
        var signed = 0;
        while (DateTimeOffset.UtcNow < until)
        {
            var keys = await apiServer.FetchKeysAsync(ct);
            Assert.Contains(keys.Keys, k => k.KeyId == active);
            var (token, kid) = await apiServer.IssueAsync(ApiServerStandIn.Claims(Issuer, Issuer, TimeSpan.FromMinutes(10), DateTimeOffset.UtcNow), ct);
            Assert.Equal(active, kid);
            Assert.True((await ApiServerStandIn.VerifyAsync(token, apiServer.LastKeys, Issuer, Issuer)).IsValid);
            signed++;
            await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
        }

        Assert.True(signed >= 20, $"{signed} tokens in 20 s");
        Assert.Contains(signer.Logs.Lines, l => l.Contains("could not be read", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_PKCS11_issuer_signs_in_the_HSM_and_an_HSM_that_cannot_sign_answers_Unavailable_never_another_key()
    {
        var ct = TestContext.Current.CancellationToken;
        Assert.SkipWhen(SoftHsm.Unavailable is not null, SoftHsm.Unavailable ?? "");
        SoftHsm.EnsureToken();
        var ns = await env.CreateNamespaceAsync("sa-hsm", ct);
        await env.GrantVaultAsync(ns, pkcs11: new Pkcs11Grant { Library = SoftHsm.Library, TokenLabel = SoftHsm.TokenLabel }, cancellationToken: ct);
        await env.Admin.CoreV1.CreateNamespacedSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = "hsm-pin" },
            Data = new Dictionary<string, byte[]> { ["pin"] = Encoding.UTF8.GetBytes(SoftHsm.UserPin) },
        }, ns, cancellationToken: ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        await scenario.Sets.CreateAsync(IssuerSet(ns).WithSpec(s => s with
        {
            Vault = new VaultSpec
            {
                Provider = "Pkcs11",
                Pkcs11 = new Pkcs11Spec { Library = SoftHsm.Library, TokenLabel = SoftHsm.TokenLabel, PinSecretRef = new SecretKeySelector { Name = "hsm-pin", Key = "pin" } },
            },
        }).Build(), ct);
        var active = (await scenario.WaitForActiveKeyAsync("cluster-issuer", TimeSpan.FromSeconds(40))).Status!.ActiveKeyId!;
        var stateFile = Path.Combine(Path.GetTempPath(), $"kr-state-{Guid.NewGuid():N}.json");
        await using var signer = await SignerInstance.StartAsync(env, $"{ns}/cluster-issuer", settings: ["--KeyRotator:Pkcs11:Libraries:0", SoftHsm.Library, "--state-file", stateFile]);
        using var apiServer = ApiServerStandIn.Dial(signer.Socket);
        await Eventually.HoldsAsync(() => FetchOrEmptyAsync(apiServer, ct), k => k.Contains(active), TimeSpan.FromSeconds(20), "the active key in FetchKeys", ct);

        var (token, kid) = await apiServer.IssueAsync(ApiServerStandIn.Claims(Issuer, Issuer, TimeSpan.FromMinutes(10), DateTimeOffset.UtcNow), ct);
        Assert.Equal(active, kid);
        Assert.True((await ApiServerStandIn.VerifyAsync(token, apiServer.LastKeys, Issuer, Issuer)).IsValid);
        var signingSecret = await env.Admin.CoreV1.ReadNamespacedSecretAsync("cluster-issuer-signing", ns, cancellationToken: ct);
        Assert.False(signingSecret.Data.ContainsKey("private-key.pem"));
        // The state file names the HSM key and holds no key material.
        var state = await Eventually.HoldsAsync(() => ReadOrEmptyAsync(stateFile), t => t.Contains(active, StringComparison.Ordinal), TimeSpan.FromSeconds(10), "the state file written", ct);
        Assert.Contains("pkcs11:", state, StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE KEY", state, StringComparison.Ordinal);
        File.Delete(stateFile);

        // The HSM cannot sign any more (its PIN is gone): Unavailable, and no token at all.
        await env.Admin.CoreV1.DeleteNamespacedSecretAsync("hsm-pin", ns, cancellationToken: ct);
        var refused = await Assert.ThrowsAsync<RpcException>(() => apiServer.IssueAsync(ApiServerStandIn.Claims(Issuer, Issuer, TimeSpan.FromMinutes(10), DateTimeOffset.UtcNow), ct));
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains(active, refused.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Restarted_without_the_API_server_the_signer_serves_from_its_state_file()
    {
        var ct = TestContext.Current.CancellationToken;
        var plane = env.ControlPlane;
        Assert.SkipWhen(plane is null, "needs the envtest control plane (a proxy in front of its API server)");
        var ns = await env.CreateNamespaceAsync("sa-state", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        await scenario.Sets.CreateAsync(IssuerSet(ns).Build(), ct);
        var active = (await scenario.WaitForActiveKeyAsync("cluster-issuer")).Status!.ActiveKeyId!;
        var stateFile = Path.Combine(Path.GetTempPath(), $"kr-state-{Guid.NewGuid():N}.json");
        try
        {
            await using (var first = await SignerInstance.StartAsync(env, $"{ns}/cluster-issuer", settings: ["--state-file", stateFile]))
            {
                await Eventually.HoldsAsync(() => ReadOrEmptyAsync(stateFile), t => t.Contains(active, StringComparison.Ordinal), TimeSpan.FromSeconds(20), "the state file written", ct);
            }

            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(stateFile));
            Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(stateFile)!, $".{Path.GetFileName(stateFile)}.*"));

            // The API server is gone when the signer starts again: it serves what the state file holds.
            await using var proxy = await ApiServerProxy.StartAsync(plane.Server);
            proxy.Down = true;
            var config = plane.ConfigFor(plane.OperatorToken);
            config.Host = proxy.Address.ToString();
            await using var signer = await SignerInstance.StartAsync(env, $"{ns}/cluster-issuer", config, settings: ["--state-file", stateFile]);
            using var apiServer = ApiServerStandIn.Dial(signer.Socket);
            Assert.Equal(600, await apiServer.MetadataAsync(ct));
            var keys = await apiServer.FetchKeysAsync(ct);
            Assert.Contains(keys.Keys, k => k.KeyId == active);
            var (token, kid) = await apiServer.IssueAsync(ApiServerStandIn.Claims(Issuer, Issuer, TimeSpan.FromMinutes(10), DateTimeOffset.UtcNow), ct);
            Assert.Equal(active, kid);
            Assert.True((await ApiServerStandIn.VerifyAsync(token, apiServer.LastKeys, Issuer, Issuer)).IsValid);
            Assert.Contains(signer.Logs.Lines, l => l.Contains("serving the state file", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(stateFile);
        }
    }

    private static async Task<string> ReadOrEmptyAsync(string path)
    {
        try
        {
            return await File.ReadAllTextAsync(path);
        }
        catch (FileNotFoundException)
        {
            return "";
        }
    }

    private static async Task<IReadOnlyCollection<string>> FetchOrEmptyAsync(ApiServerStandIn apiServer, CancellationToken ct)
    {
        try
        {
            return (await apiServer.FetchKeysAsync(ct)).Keys.Select(k => k.KeyId).ToList();
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.FailedPrecondition)
        {
            return [];
        }
    }
}
