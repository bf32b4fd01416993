using Azure.Core;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Resources;
using KeyRotator.Testing;
using KeyRotator.Testing.Azure;
using Microsoft.Extensions.DependencyInjection;

namespace KeyRotator.Operator.Tests.Reconcile;

/// <summary>Every failure, whatever throws it, reaches the set's status and one Event, and is retried with backoff.</summary>
public sealed class FailureVisibilityTests(KubernetesEnvironment env) : IAsyncLifetime
{
    private readonly string _host = $"kr-{Guid.NewGuid():N}"[..16] + ".vault.azure.net";
    private AzureKeyVaultFake _fake = null!;

    public async ValueTask InitializeAsync() => _fake = await AzureKeyVaultFake.StartAsync();

    public async ValueTask DisposeAsync() => await _fake.DisposeAsync();

    [Fact]
    public async Task An_exception_of_a_vault_library_becomes_a_Degraded_condition_naming_vault_operation_and_error_and_one_Event_while_retries_go_on()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("vault-throws", ct);
        await env.GrantVaultAsync(ns, azure: new AzureKeyVaultGrant { VaultUri = $"https://{_host}" }, cancellationToken: ct);
        var scenario = new OperatorScenario(env, ns);
        // The identity library fails in a way of its own (not one of the Azure SDK's documented exceptions).
        var credential = new ThrowingCredential();
        await using var op = await OperatorInstance.StartAsync(env, [ns], configure: services =>
        {
            services.AddSingleton<TokenCredential>(credential);
            services.AddSingleton(_fake.ClientOptions(0, 2));
        });
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { Vault = new VaultSpec { Provider = "AzureKeyVault", AzureKeyVault = new AzureKeyVaultSpec { VaultUri = $"https://{_host}", KeyName = "jwt" } } })
            .Build(), ct);

        var degraded = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"),
            s => ConditionSet.Find(s.Status?.Conditions, ConditionSet.Degraded) is { Status: "True" }, TimeSpan.FromSeconds(30), "a Degraded condition", ct);
        var condition = ConditionSet.Find(degraded.Status!.Conditions, ConditionSet.Degraded)!;
        Assert.Equal("VaultError", condition.Reason);
        Assert.Contains("the AzureKeyVault vault failed to list", condition.Message, StringComparison.Ordinal);
        Assert.Contains("InvalidOperationException: the token cache is corrupt", condition.Message, StringComparison.Ordinal);
        var events = await scenario.WaitForEventAsync("auth", "VaultError", ct);
        Assert.Contains(events, e => e.Type == "Warning" && e.Message == condition.Message);

        // Retried with backoff, and the same failure is not announced again.
        var calls = credential.Calls;
        await Eventually.HoldsAsync(() => Task.FromResult(credential.Calls), n => n > calls, TimeSpan.FromSeconds(30), "another retry", ct);
        Assert.Single(await scenario.EventsAsync("auth"), e => e.Reason == "VaultError");

        // Once the library works again, the set heals by itself.
        credential.Failing = false;
        var healed = await scenario.WaitForActiveKeyAsync("auth", TimeSpan.FromSeconds(60));
        Assert.Equal("False", ConditionSet.Find(healed.Status!.Conditions, ConditionSet.Degraded)!.Status);
    }

    private sealed class ThrowingCredential : TokenCredential
    {
        private readonly FakeTokenCredential _working = new();
        private int _calls;

        public volatile bool Failing = true;

        public int Calls => Volatile.Read(ref _calls);

        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            GetTokenAsync(requestContext, cancellationToken).AsTask().GetAwaiter().GetResult();

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            return Failing ? throw new InvalidOperationException("the token cache is corrupt") : _working.GetTokenAsync(requestContext, cancellationToken);
        }
    }
}
