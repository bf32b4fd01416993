// Longer than 300 lines: the operator-level Key Vault scenarios share one loopback fake vault and its set-up.
using System.Security.Claims;
using System.Text;
using Azure.Core;
using k8s;
using KeyRotator.Client;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Operator.Vault.Azure;
using KeyRotator.Testing;
using KeyRotator.Testing.Azure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace KeyRotator.Operator.Tests.Vault;

/// <summary>
/// The operator on the real API server with spec.vault.provider AzureKeyVault, its vault being the
/// loopback HTTPS fake (Azure itself cannot run here): rotation, outage, faults, crash adoption and a
/// rotation storm against the documented create limits.
/// </summary>
public sealed class AzureKeyVaultOperatorTests(KubernetesEnvironment env) : IAsyncLifetime
{
    private readonly FakeTokenCredential _credential = new();
    private AzureKeyVaultFake _fake = null!;
    private readonly string _host = $"kr-{Guid.NewGuid():N}"[..16] + ".vault.azure.net";

    public async ValueTask InitializeAsync() => _fake = await AzureKeyVaultFake.StartAsync();

    public async ValueTask DisposeAsync() => await _fake.DisposeAsync();

    private Action<IServiceCollection> UseFake(int maxRetries = 1, double timeoutSeconds = 2) => services =>
    {
        services.AddSingleton<TokenCredential>(_credential);
        services.AddSingleton(_fake.ClientOptions(maxRetries, timeoutSeconds));
    };

    /// <summary>A namespace the platform team granted the test's vault to.</summary>
    private async Task<string> GrantedNamespaceAsync(string prefix, CancellationToken ct)
    {
        var ns = await env.CreateNamespaceAsync(prefix, ct);
        await env.GrantVaultAsync(ns, azure: new AzureKeyVaultGrant { VaultUri = $"https://{_host}" }, cancellationToken: ct);
        return ns;
    }

    private VaultSpec Vault(string key = "jwt") =>
        new() { Provider = "AzureKeyVault", AzureKeyVault = new AzureKeyVaultSpec { VaultUri = $"https://{_host}", KeyName = key } };

    private async Task<(OperatorScenario Scenario, V1Alpha1SigningKeySet Set)> CreateSetAsync(string ns, string name, string algorithm = "ES256", string key = "jwt")
    {
        var scenario = new OperatorScenario(env, ns);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named(name, ns)
            .WithAlgorithm(algorithm)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { Vault = Vault(key) })
            .Build());
        return (scenario, await scenario.WaitForActiveKeyAsync(name));
    }

    private static async Task RotateNowAsync(OperatorScenario scenario, V1Alpha1SigningKeySet set, string request)
    {
        await scenario.EditAsync(set.Metadata.Name, s => s.Metadata.Annotations = new Dictionary<string, string> { [Labels.RotateNowAnnotation] = request }, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task A_rotation_cycle_publishes_the_vaults_public_keys_and_signers_sign_in_the_vault()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await GrantedNamespaceAsync("akv", ct);
        await using var op = await OperatorInstance.StartAsync(env, [ns], configure: UseFake());
        var (scenario, set) = await CreateSetAsync(ns, "akv", "PS256");

        var version = Assert.Single(_fake.Versions(_host, "jwt"));
        var published = Assert.Single((await scenario.JwksAsync("akv-jwks"))!.Keys);
        Assert.Equal(version.PublicJwk()["n"]!.GetValue<string>(), published.N);
        Assert.Equal(set.Status!.ActiveKeyId, published.Kid);
        var secret = await env.Admin.CoreV1.ReadNamespacedSecretAsync("akv-signing", ns, cancellationToken: ct);
        Assert.False(secret.Data.ContainsKey("private-key.pem"));
        Assert.Equal(version.KeyId, Encoding.UTF8.GetString(secret.Data["key-ref"]));

        await RotateNowAsync(scenario, set, "first");
        var rotated = await Eventually.HoldsAsync(() => scenario.GetAsync("akv"),
            s => s.Status?.ActiveKeyId is { } kid && kid != set.Status.ActiveKeyId, TimeSpan.FromSeconds(30), "the rotation", ct);
        var versions = _fake.Versions(_host, "jwt");
        Assert.Equal(2, versions.Count);
        Assert.Equal("2", versions[1].Tags[AzureKeyVaultKeyStore.GenerationTag]);
        var jwks = (await scenario.JwksAsync("akv-jwks"))!;
        Assert.Equal(new[] { set.Status.ActiveKeyId!, rotated.Status!.ActiveKeyId! }.Order(StringComparer.Ordinal), jwks.Keys.Select(k => k.Kid).Order(StringComparer.Ordinal));

        // A signer holding only the key reference signs in the vault; the published JWKS verifies it.
        var store = new AzureKeyVaultKeyStore(new KeyVaultClient(_credential, _fake.ClientOptions(), new KeyVaultCreateLimiter(TimeProvider.System), TimeProvider.System), TimeProvider.System, NullLogger<AzureKeyVaultKeyStore>.Instance);
        var context = new KeyRotator.Operator.Vault.KeySetContext(ns, "akv", rotated.Metadata.Uid, SpecValidator.Validate(rotated.Spec, new RotationPolicyOptions { MinimumPrePublish = TimeSpan.FromSeconds(1) }).Policy!, rotated.Spec);
        var input = Encoding.ASCII.GetBytes("eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiJ4In0");
        var signature = await store.SignAsync(context, rotated.Status.ActiveKeyId!, input, ct);
        Assert.True(JwsVerifier.Verify(jwks.Keys.Single(k => k.Kid == rotated.Status.ActiveKeyId), input, signature));
    }

    [Fact]
    public async Task A_service_signs_through_the_vault_with_the_mounted_key_ref_and_its_tokens_verify_against_the_mounted_jwks_across_a_rotation()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await GrantedNamespaceAsync("akv", ct);
        await using var op = await OperatorInstance.StartAsync(env, [ns], configure: UseFake());
        var (scenario, set) = await CreateSetAsync(ns, "akv", "ES384");
        await using var jwksVolume = VolumeMirror.ForConfigMap(env.Admin, ns, "akv-jwks");
        await using var signingVolume = VolumeMirror.ForSecret(env.Admin, ns, "akv-signing");
        await Eventually.HoldsAsync(() => Task.FromResult(jwksVolume.Updates + signingVolume.Updates), n => n >= 2, TimeSpan.FromSeconds(10), "volumes populated", ct);

        // The service's own Key Vault client signs; ours stands in for the SDK's CryptographyClient.
        var vault = new KeyVaultClient(_credential, _fake.ClientOptions(), new KeyVaultCreateLimiter(TimeProvider.System), TimeProvider.System);
        VaultSign sign = (keyRef, alg, input, token) => vault.SignDigestAsync(new Uri(keyRef), JwsAlgorithm.Parse(alg), JwsAlgorithm.Parse(alg).Digest(input), token);
        var signer = new KeyRotatorSigner(signingVolume.Directory);
        var options = new KeyRotatorValidationOptions { JwksPath = Path.Combine(jwksVolume.Directory, "jwks.json") };
        options.ValidIssuers.Add("https://auth.example.com");
        options.ValidAudiences.Add("api");
        using var jwks = new JwksFileSource(options.JwksPath);
        var validator = new KeyRotatorTokenValidator(jwks, options);

        var first = await signer.CreateTokenAsync("https://auth.example.com", "api", TimeSpan.FromMinutes(5), [new Claim("sub", "alice")], sign, ct);
        var result = await validator.ValidateAsync(first);
        Assert.True(result.IsValid, result.Reason?.ToString());
        Assert.Equal(set.Status!.ActiveKeyId, result.Kid);

        await RotateNowAsync(scenario, set, "service");
        await Eventually.HoldsAsync(() => Task.FromResult(File.ReadAllText(Path.Combine(signingVolume.Directory, "kid"))), kid => kid != set.Status.ActiveKeyId, TimeSpan.FromSeconds(30), "the new key reaching the signer's volume", ct);
        jwks.Reload();
        var second = await signer.CreateTokenAsync("https://auth.example.com", "api", TimeSpan.FromMinutes(5), [new Claim("sub", "alice")], sign, ct);
        var rotated = await validator.ValidateAsync(second);
        Assert.True(rotated.IsValid, rotated.Reason?.ToString());
        Assert.NotEqual(set.Status.ActiveKeyId, rotated.Kid);
        Assert.True((await validator.ValidateAsync(first)).IsValid, "a token signed before the rotation still verifies in the overlap");
    }

    [Fact]
    public async Task A_vault_outage_mid_rotation_keeps_the_jwks_sets_Degraded_without_secrets_and_recovers_by_itself()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await GrantedNamespaceAsync("akv", ct);
        await using var op = await OperatorInstance.StartAsync(env, [ns], configure: UseFake());
        var (scenario, before) = await CreateSetAsync(ns, "akv");
        var jwksBefore = await scenario.JwksJsonAsync("akv-jwks");

        _fake.Down = true;
        await RotateNowAsync(scenario, before, "during-outage");

        var degraded = await Eventually.HoldsAsync(() => scenario.GetAsync("akv"),
            s => ConditionSet.IsTrue(s.Status?.Conditions, ConditionSet.Degraded), TimeSpan.FromSeconds(20), "Degraded during the outage", ct);
        var condition = ConditionSet.Find(degraded.Status!.Conditions, ConditionSet.Degraded)!;
        Assert.Equal("VaultUnavailable", condition.Reason);
        Assert.Contains($"https://{_host}", condition.Message, StringComparison.Ordinal);
        Assert.Contains("503 ServiceUnavailable", condition.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(FakeTokenCredential.TokenPrefix, condition.Message, StringComparison.Ordinal);
        Assert.Equal(jwksBefore, await scenario.JwksJsonAsync("akv-jwks"));
        Assert.Equal(before.Status!.ActiveKeyId, degraded.Status.ActiveKeyId);

        _fake.Down = false;
        var recovered = await Eventually.HoldsAsync(() => scenario.GetAsync("akv"),
            s => s.Status?.ActiveKeyId is { } kid && kid != before.Status.ActiveKeyId && !ConditionSet.IsTrue(s.Status.Conditions, ConditionSet.Degraded),
            TimeSpan.FromSeconds(45), "recovery and the rotation completing", ct);
        Assert.Contains(recovered.Status!.ActiveKeyId!, (await scenario.JwksJsonAsync("akv-jwks"))!, StringComparison.Ordinal);
        Assert.Equal(2, _fake.Versions(_host, "jwt").Count);
    }

    public static TheoryData<string, string, string> Faults => new()
    {
        { "throttled", "VaultThrottled", "HTTP 429 Throttled" },
        { "server error", "VaultUnavailable", "HTTP 500 InternalServerError" },
        { "forbidden", "VaultAccessDenied", "Key Vault Crypto Officer" },
        { "timeout", "VaultUnavailable", "did not answer in time" },
        { "malformed", "VaultError", "body that is not JSON" },
    };

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task A_failing_create_leaves_a_clear_condition_loses_nothing_and_heals(string fault, string reason, string message)
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await GrantedNamespaceAsync("akv", ct);
        await using var op = await OperatorInstance.StartAsync(env, [ns], configure: UseFake());
        var (scenario, before) = await CreateSetAsync(ns, "akv");
        var jwksBefore = await scenario.JwksJsonAsync("akv-jwks");
        _fake.Inject(r => r.Path.EndsWith("/create", StringComparison.Ordinal), VaultFault.Named(fault));

        await RotateNowAsync(scenario, before, "fault");
        var degraded = await Eventually.HoldsAsync(() => scenario.GetAsync("akv"),
            s => ConditionSet.Find(s.Status?.Conditions, ConditionSet.Degraded) is { Status: "True" } c && c.Reason == reason, TimeSpan.FromSeconds(30), $"Degraded {reason}", ct);
        Assert.Contains(message, ConditionSet.Find(degraded.Status!.Conditions, ConditionSet.Degraded)!.Message, StringComparison.Ordinal);
        Assert.Equal(jwksBefore, await scenario.JwksJsonAsync("akv-jwks"));
        Assert.Equal(before.Status!.ActiveKeyId, degraded.Status.ActiveKeyId);

        _fake.ClearFaults();
        await Eventually.HoldsAsync(() => scenario.GetAsync("akv"),
            s => s.Status?.ActiveKeyId is { } kid && kid != before.Status.ActiveKeyId && !ConditionSet.IsTrue(s.Status.Conditions, ConditionSet.Degraded),
            TimeSpan.FromSeconds(45), "the rotation completing once the vault answers", ct);
        Assert.Equal(2, _fake.Versions(_host, "jwt").Count);
    }

    [Fact]
    public async Task Retain_then_recreate_gives_fresh_versions_and_Delete_removes_the_key_even_with_an_invalid_spec()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await GrantedNamespaceAsync("akv-delete", ct);
        await using var op = await OperatorInstance.StartAsync(env, [ns], configure: UseFake());
        var (scenario, first) = await CreateSetAsync(ns, "akv", key: "retained");
        var old = first.Status!.ActiveKeyId!;

        // Retain (the default): the set goes, its version stays; a set of the same name makes its own.
        await scenario.Sets.DeleteAsync(ns, "akv", ct);
        await scenario.WaitUntilGoneAsync("akv", cancellationToken: ct);
        Assert.True(Assert.Single(_fake.Versions(_host, "retained")).Enabled);
        var (_, second) = await CreateSetAsync(ns, "akv", key: "retained");
        Assert.NotEqual(old, second.Status!.ActiveKeyId);
        Assert.DoesNotContain(second.Status.Keys!, k => k.Kid == old);
        Assert.DoesNotContain(old, (await scenario.JwksJsonAsync("akv-jwks"))!, StringComparison.Ordinal);
        Assert.Equal(2, _fake.Versions(_host, "retained").Count);

        // Delete, with a spec that has since become invalid: this set's versions leave the vault; the key,
        // which still holds the first set's retained version, is kept (Key Vault deletes keys, not versions).
        await scenario.Sets.DeleteAsync(ns, "akv", ct);
        await scenario.WaitUntilGoneAsync("akv", cancellationToken: ct);
        var (_, third) = await CreateSetAsync(ns, "akv", key: "own");
        await scenario.EditAsync(third.Metadata.Name, s => s.Spec = s.Spec with { DeletionPolicy = "Delete", Rotation = s.Spec.Rotation with { Overlap = "1s" } }, ct);
        await scenario.WaitForReadyReasonAsync("akv", "InvalidSpec", ct);
        await scenario.Sets.DeleteAsync(ns, "akv", ct);
        await scenario.WaitUntilGoneAsync("akv", cancellationToken: ct);
        Assert.Empty(_fake.Versions(_host, "own"));
        Assert.False(_fake.IsSoftDeleted(_host, "own"), "deleted and purged");
    }

    [Fact]
    public async Task Deleting_a_set_whose_vault_fails_keeps_the_finalizer_with_a_condition_until_the_vault_answers()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await GrantedNamespaceAsync("akv-delete", ct);
        await using var op = await OperatorInstance.StartAsync(env, [ns], configure: UseFake());
        var (scenario, set) = await CreateSetAsync(ns, "akv", key: "stuck");
        await scenario.EditAsync(set.Metadata.Name, s => s.Spec = s.Spec with { DeletionPolicy = "Delete" }, ct);
        await Eventually.HoldsAsync(() => scenario.GetAsync("akv"), s => s.Status?.ObservedGeneration == s.Metadata.Generation, TimeSpan.FromSeconds(10), "the edit observed", ct);

        _fake.Inject(r => r.Method == "DELETE", VaultFault.Forbidden);
        await scenario.Sets.DeleteAsync(ns, "akv", ct);

        var stuck = await Eventually.HoldsAsync(() => scenario.GetAsync("akv"),
            s => ConditionSet.Find(s.Status?.Conditions, ConditionSet.Degraded) is { Status: "True" } d && d.Message.Contains("is being deleted", StringComparison.Ordinal),
            TimeSpan.FromSeconds(20), "Degraded saying why the set cannot go yet", ct);
        var condition = ConditionSet.Find(stuck.Status!.Conditions, ConditionSet.Degraded)!;
        Assert.Contains("could not be deleted", condition.Message, StringComparison.Ordinal);
        Assert.Contains("403", condition.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(FakeTokenCredential.TokenPrefix, condition.Message, StringComparison.Ordinal);
        Assert.Single(_fake.Versions(_host, "stuck"));

        _fake.ClearFaults();
        await scenario.WaitUntilGoneAsync("akv", TimeSpan.FromSeconds(60), ct);
        Assert.Empty(_fake.Versions(_host, "stuck"));
    }

    [Fact]
    public async Task A_vault_whose_challenge_names_another_resource_gets_no_token_and_the_set_says_why()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await GrantedNamespaceAsync("akv", ct);
        _fake.ChallengeResource = "https://attacker.example.net";
        await using var op = await OperatorInstance.StartAsync(env, [ns], configure: UseFake());
        var scenario = new OperatorScenario(env, ns);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("akv", ns)
            .WithAlgorithm("ES256")
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { Vault = Vault() })
            .Build(), ct);

        var degraded = await Eventually.HoldsAsync(() => scenario.GetAsync("akv"),
            s => ConditionSet.Find(s.Status?.Conditions, ConditionSet.Degraded) is { Status: "True", Reason: "VaultAccessDenied" }, TimeSpan.FromSeconds(20), "Degraded VaultAccessDenied", ct);
        Assert.Contains("asked for a token for https://attacker.example.net, which does not match the vault host", ConditionSet.Find(degraded.Status!.Conditions, ConditionSet.Degraded)!.Message, StringComparison.Ordinal);
        Assert.Equal(0, _credential.Issued);
        Assert.All(_fake.Requests, r => Assert.False(r.Authorized));

        _fake.ChallengeResource = "https://vault.azure.net";
        await scenario.WaitForActiveKeyAsync("akv", TimeSpan.FromSeconds(45));
    }

    [Fact]
    public async Task A_key_deleted_in_the_vault_behind_the_operators_back_keeps_the_jwks_and_is_left_to_its_owner_to_recover()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await GrantedNamespaceAsync("akv", ct);
        await using var op = await OperatorInstance.StartAsync(env, [ns], configure: UseFake());
        var (scenario, before) = await CreateSetAsync(ns, "akv");
        var original = Assert.Single(_fake.Versions(_host, "jwt"));

        // Someone runs `az keyvault key delete`: the key is soft-deleted, listing it answers 404. Perhaps another
        // team that was granted the same vault: the operator does not undo a deletion it cannot attribute.
        _fake.SoftDelete(_host, "jwt");
        await RotateNowAsync(scenario, before, "after-delete");

        var held = await scenario.WaitForReadyReasonAsync("akv", Reasons.NameConflict, ct);
        Assert.Contains("is soft-deleted; KeyRotator neither recovers nor purges a deleted key", ConditionSet.Find(held.Status!.Conditions, ConditionSet.Ready)!.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_fake.Requests, r => r.Path.StartsWith("/deletedkeys/", StringComparison.Ordinal));
        Assert.True(_fake.IsSoftDeleted(_host, "jwt"));
        Assert.Contains(before.Status!.ActiveKeyId!, (await scenario.JwksJsonAsync("akv-jwks"))!, StringComparison.Ordinal); // verifiers keep the key

        // Its owner recovers it, as the message says: the rotation completes on it.
        _fake.Recover(_host, "jwt");
        var rotated = await Eventually.HoldsAsync(() => scenario.GetAsync("akv"),
            s => s.Status?.ActiveKeyId is { } kid && kid != before.Status!.ActiveKeyId && ConditionSet.IsTrue(s.Status.Conditions, ConditionSet.Ready),
            TimeSpan.FromSeconds(75), "the rotation completing on the recovered key", ct);
        var versions = _fake.Versions(_host, "jwt");
        Assert.Equal(original.KeyId, versions[0].KeyId);
        Assert.Equal(2, versions.Count);
        var jwks = (await scenario.JwksJsonAsync("akv-jwks"))!;
        Assert.Contains(before.Status!.ActiveKeyId!, jwks, StringComparison.Ordinal);
        Assert.Contains(rotated.Status!.ActiveKeyId!, jwks, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_grant_with_a_key_name_prefix_keeps_each_team_to_its_own_key_names()
    {
        var ct = TestContext.Current.CancellationToken;
        var victim = await env.CreateNamespaceAsync("akv-a", ct);
        var attacker = await env.CreateNamespaceAsync("akv-b", ct);
        await env.Admin.CustomObjects.CreateClusterCustomObjectAsync(new V1Alpha1ClusterKeyVault
        {
            Metadata = new k8s.Models.V1ObjectMeta { Name = $"shared-{victim}" },
            Spec = new ClusterKeyVaultSpec { AzureKeyVault = new AzureKeyVaultGrant { VaultUri = $"https://{_host}", KeyNamePrefix = "{namespace}-" }, Namespaces = [victim, attacker] },
        }, V1Alpha1SigningKeySet.Group, V1Alpha1SigningKeySet.Version, V1Alpha1ClusterKeyVault.Plural, cancellationToken: ct);
        await using var op = await OperatorInstance.StartAsync(env, [victim, attacker], configure: UseFake());

        // Team B names team A's key before team A has made it: refused before the vault is asked anything.
        var b = new OperatorScenario(env, attacker);
        await b.Sets.CreateAsync(SigningKeySetBuilder.Named("squat", attacker).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { Vault = Vault($"{victim}-signing") }).Build(), ct);
        var refused = await b.WaitForReadyReasonAsync("squat", Reasons.VaultNotGranted, ct);
        Assert.Contains($"namespace {attacker} may not use key {victim}-signing", ConditionSet.Find(refused.Status!.Conditions, ConditionSet.Ready)!.Message, StringComparison.Ordinal);
        Assert.Contains($"starting with \"{attacker}-\"", ConditionSet.Find(refused.Status.Conditions, ConditionSet.Ready)!.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_fake.Requests, r => r.Path.Contains($"{victim}-signing", StringComparison.Ordinal));

        // Each team makes keys under its own names.
        var (_, own) = await CreateSetAsync(victim, "auth", key: $"{victim}-signing");
        var (_, theirs) = await CreateSetAsync(attacker, "auth", key: $"{attacker}-signing");
        Assert.Single(_fake.Versions(_host, $"{victim}-signing"));
        Assert.Single(_fake.Versions(_host, $"{attacker}-signing"));
        Assert.NotEqual(own.Status!.ActiveKeyId, theirs.Status!.ActiveKeyId);
    }

    [Fact]
    public async Task Operator_killed_between_creating_the_vault_key_and_writing_status_adopts_that_version_on_restart()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await GrantedNamespaceAsync("akv", ct);
        var noLeaderElection = new Dictionary<string, string?> { ["KeyRotator:LeaderElection:Enabled"] = "false" };
        var crash = new CrashingHandler(_ => false);
        var first = await OperatorInstance.StartAsync(env, [ns], settings: noLeaderElection, handlers: [crash], configure: UseFake());
        var (scenario, before) = await CreateSetAsync(ns, "akv");
        await first.WaitForQuietQueueAsync(ct);

        // The process dies the moment the vault has made the key: nothing after it reaches the API server.
        _fake.OnCreated = _ => crash.Kill();
        await RotateNowAsync(scenario, before, "crash");
        await crash.Crashed.WaitAsync(TimeSpan.FromSeconds(20), ct);
        await first.DisposeAsync();
        _fake.OnCreated = null;
        Assert.Equal(2, _fake.Versions(_host, "jwt").Count);
        Assert.Equal(before.Status!.ActiveKeyId, (await scenario.GetAsync("akv")).Status!.ActiveKeyId);

        await using var second = await OperatorInstance.StartAsync(env, [ns], settings: noLeaderElection, configure: UseFake());
        var after = await Eventually.HoldsAsync(() => scenario.GetAsync("akv"),
            s => s.Status?.ActiveKeyId is { } kid && kid != before.Status.ActiveKeyId, TimeSpan.FromSeconds(30), "the rotation finishing after the restart", ct);
        var versions = _fake.Versions(_host, "jwt");
        Assert.Equal(2, versions.Count);
        Assert.Equal(versions[1].KeyId, Encoding.UTF8.GetString((await env.Admin.CoreV1.ReadNamespacedSecretAsync("akv-signing", ns, cancellationToken: ct)).Data["key-ref"]));
        Assert.Contains(after.Status!.ActiveKeyId!, (await scenario.JwksJsonAsync("akv-jwks"))!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_rotation_storm_of_100_sets_on_one_vault_never_draws_a_429_from_the_documented_limit()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await GrantedNamespaceAsync("akv-storm", ct);
        _fake.EnforceLimits = true;
        await using var op = await OperatorInstance.StartAsync(env, [ns], configure: UseFake(maxRetries: 4, timeoutSeconds: 10));
        var scenario = new OperatorScenario(env, ns);
        var names = Enumerable.Range(0, 100).Select(i => $"set-{i:D3}").ToList();

        // Storm 1: a hundred sets appear at once, each needing its first key.
        await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (name, token) =>
            await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named(name, ns)
                .WithAlgorithm("ES256")
                .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
                .WithSpec(s => s with { Vault = Vault(name) })
                .Build(), token));
        var first = await Eventually.HoldsAsync(async () => (await scenario.Sets.ListAsync(ns, ct)).Items.Where(s => s.Status?.ActiveKeyId is not null).ToList(),
            sets => sets.Count == 100, TimeSpan.FromSeconds(240), "every set having its first key", ct);

        // Storm 2: every set is told to rotate now.
        await Parallel.ForEachAsync(first, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (set, token) =>
        {
            var fresh = await scenario.GetAsync(set.Metadata.Name);
            await scenario.EditAsync(fresh.Metadata.Name, s => s.Metadata.Annotations = new Dictionary<string, string> { [Labels.RotateNowAnnotation] = "storm" }, token);
        });
        var active = first.ToDictionary(s => s.Metadata.Name, s => s.Status!.ActiveKeyId);
        await Eventually.HoldsAsync(async () => (await scenario.Sets.ListAsync(ns, ct)).Items.Count(s => s.Status?.ActiveKeyId is { } kid && kid != active[s.Metadata.Name]),
            rotated => rotated == 100, TimeSpan.FromSeconds(240), "every set rotated", ct);

        Assert.Equal(0, _fake.ThrottledByLimit);
        Assert.DoesNotContain(_fake.Requests, r => r.Status == 429);
        Assert.All(names, name => Assert.Equal(2, _fake.Versions(_host, name).Count));
    }
}
