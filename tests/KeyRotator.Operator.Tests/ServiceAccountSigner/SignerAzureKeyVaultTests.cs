using Azure.Core;
using Grpc.Core;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;
using KeyRotator.Testing.Azure;
using Microsoft.Extensions.DependencyInjection;

namespace KeyRotator.Operator.Tests.ServiceAccountSigner;

/// <summary>An issuer set whose keys live in Azure Key Vault (the loopback stand-in): the signer signs in the vault, and a vault that is down gets no token signed at all.</summary>
public sealed class SignerAzureKeyVaultTests(KubernetesEnvironment env) : IAsyncLifetime
{
    private const string Issuer = "https://kubernetes.default.svc";
    private readonly FakeTokenCredential _credential = new();
    private readonly string _host = $"kr-{Guid.NewGuid():N}"[..16] + ".vault.azure.net";
    private AzureKeyVaultFake _fake = null!;

    public async ValueTask InitializeAsync() => _fake = await AzureKeyVaultFake.StartAsync();

    public async ValueTask DisposeAsync() => await _fake.DisposeAsync();

    private void UseFake(IServiceCollection services)
    {
        services.AddSingleton<TokenCredential>(_credential);
        services.AddSingleton(_fake.ClientOptions(1, 2));
    }

    [Fact]
    public async Task An_Azure_Key_Vault_issuer_signs_in_the_vault_and_a_vault_that_is_down_answers_Unavailable()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("sa-akv", ct);
        await env.GrantVaultAsync(ns, azure: new AzureKeyVaultGrant { VaultUri = $"https://{_host}" }, cancellationToken: ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns], configure: UseFake);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("cluster-issuer", ns)
            .WithAlgorithm("ES384")
            .WithRotation(r => r with { Interval = "2h", PrePublish = "3s", Overlap = "90m" })
            .WithSpec(s => s with
            {
                MaxTokenLifetime = "1h",
                ServiceAccountIssuer = true,
                Vault = new VaultSpec { Provider = "AzureKeyVault", AzureKeyVault = new AzureKeyVaultSpec { VaultUri = $"https://{_host}", KeyName = "cluster-issuer" } },
            }).Build(), ct);
        var active = (await scenario.WaitForActiveKeyAsync("cluster-issuer", TimeSpan.FromSeconds(40))).Status!.ActiveKeyId!;
        await using var signer = await SignerInstance.StartAsync(env, $"{ns}/cluster-issuer", configure: UseFake);
        using var apiServer = ApiServerStandIn.Dial(signer.Socket);
        await Eventually.HoldsAsync(() => FetchOrEmptyAsync(apiServer, ct), k => k.Contains(active), TimeSpan.FromSeconds(20), "the active key in FetchKeys", ct);
        Assert.Equal(3600, await apiServer.MetadataAsync(ct));

        var (token, kid) = await apiServer.IssueAsync(ApiServerStandIn.Claims(Issuer, Issuer, TimeSpan.FromMinutes(10), DateTimeOffset.UtcNow), ct);
        Assert.Equal(active, kid);
        Assert.True((await ApiServerStandIn.VerifyAsync(token, apiServer.LastKeys, Issuer, Issuer)).IsValid);

        _fake.Down = true;
        var refused = await Assert.ThrowsAsync<RpcException>(() => apiServer.IssueAsync(ApiServerStandIn.Claims(Issuer, Issuer, TimeSpan.FromMinutes(10), DateTimeOffset.UtcNow), ct));
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains(active, refused.Status.Detail, StringComparison.Ordinal);
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
