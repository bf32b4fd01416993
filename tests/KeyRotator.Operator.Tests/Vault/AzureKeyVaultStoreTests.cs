// Longer than 300 lines: the replayed real exchanges and the stateful fake's faults share one fake and its helpers.
using System.Text;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Vault;
using KeyRotator.Operator.Vault.Azure;
using KeyRotator.Testing;
using KeyRotator.Testing.Azure;
using Microsoft.Extensions.Logging.Abstractions;

namespace KeyRotator.Operator.Tests.Vault;

/// <summary>
/// Our Key Vault client and key store against the loopback HTTPS fake: first the recorded real
/// exchanges replayed exactly, then the stateful fake with its faults.
/// </summary>
public sealed class AzureKeyVaultStoreTests : IAsyncLifetime
{
    private AzureKeyVaultFake _fake = null!;
    private readonly FakeTokenCredential _credential = new();

    private static string Fixtures => Path.Combine(Repository.Root, "..", "shared", "fixtures", "azure-keyvault");

    public async ValueTask InitializeAsync() => _fake = await AzureKeyVaultFake.StartAsync();

    public async ValueTask DisposeAsync() => await _fake.DisposeAsync();

    private KeyVaultClient Client(int maxRetries = 3, double timeoutSeconds = 2) =>
        new(_credential, _fake.ClientOptions(maxRetries, timeoutSeconds), new KeyVaultCreateLimiter(TimeProvider.System), TimeProvider.System);

    private AzureKeyVaultKeyStore Store(KeyVaultClient? client = null) =>
        new(client ?? Client(), TimeProvider.System, NullLogger<AzureKeyVaultKeyStore>.Instance);

    private static KeySetContext Set(string algorithm = "ES256", string vault = "https://contoso.vault.azure.net", string key = "jwt", bool hsm = false, string? uid = null, string ns = "team")
    {
        var spec = new SigningKeySetSpec
        {
            Algorithm = algorithm,
            RsaKeySize = algorithm.StartsWith("ES", StringComparison.Ordinal) ? null : 2048,
            Rotation = new RotationSpec { Interval = "720h" },
            DeletionPolicy = "Delete",
            Vault = new VaultSpec { Provider = "AzureKeyVault", AzureKeyVault = new AzureKeyVaultSpec { VaultUri = vault, KeyName = key, Hsm = hsm } },
        };
        var validation = SpecValidator.Validate(spec, new RotationPolicyOptions());
        Assert.Empty(validation.Problems);
        return new KeySetContext(ns, "auth", uid ?? Guid.NewGuid().ToString(), validation.Policy!, spec);
    }

    /// <summary>Azure.Identity's real workload-identity credential, its token endpoint being the fake's Entra stand-in.</summary>
    private async Task<global::Azure.Identity.WorkloadIdentityCredential> WorkloadIdentityAsync(string tenant)
    {
        var tokenFile = Path.Combine(Directory.CreateTempSubdirectory("keyrotator-wi-").FullName, "azure-identity-token");
        await File.WriteAllTextAsync(tokenFile, "projected-service-account-token", TestContext.Current.CancellationToken);
        return new global::Azure.Identity.WorkloadIdentityCredential(new global::Azure.Identity.WorkloadIdentityCredentialOptions
        {
            TenantId = tenant,
            ClientId = "11111111-2222-3333-4444-555555555555",
            TokenFilePath = tokenFile,
            DisableInstanceDiscovery = true,
            Transport = _fake.Transport,
        });
    }

    /// <summary>The recording was played to its end and every request matched it.</summary>
    private void AssertReplayed()
    {
        Assert.Empty(_fake.ReplayMismatches);
        Assert.Equal(0, _fake.PendingReplay);
    }

    [Fact]
    public async Task Recorded_create_exchanges_replay_through_our_client_with_the_challenge_first_and_no_body_before_it()
    {
        Assert.SkipWhen(!Directory.Exists(Fixtures), $"the recorded fixtures are not beside the repository ({Fixtures})");
        var ct = TestContext.Current.CancellationToken;
        var client = Client();

        _fake.Replay(Path.Combine(Fixtures, "create-ec-p256.json"));
        var ec = await client.CreateKeyAsync(new Uri("https://tcac7e9c41ef52cec.vault.azure.net"), "902001546", JwsAlgorithm.ES256, 0, false, new Dictionary<string, string>(), ct);
        AssertReplayed();
        Assert.Equal("893d0550466648e0b044db95fb15754b", ec.Version);
        Assert.Equal("mLPING3ptYIHBoeh9JFMEmVo__RTkEMU3gydz-2WHW0", ec.PublicJwk.X);
        var asked = Assert.Single(_credential.Requests);
        Assert.Equal(["https://vault.azure.net/.default"], asked.Scopes);
        Assert.Equal(AzureKeyVaultFake.Tenant, asked.TenantId);
        var requests = _fake.Requests.ToList();
        Assert.False(requests[0].Authorized);
        Assert.Equal("", requests[0].Body);
        Assert.True(requests[1].Authorized);
        Assert.Contains("api-version=7.4", requests[1].Query, StringComparison.Ordinal);

        _fake.Replay(Path.Combine(Fixtures, "create-rsa-2048.json"));
        var rsa = await client.CreateKeyAsync(new Uri("https://heathskeyvault.vault.azure.net"), "281568504", JwsAlgorithm.RS256, 2048, false, new Dictionary<string, string>(), ct);
        var latest = await client.GetKeyAsync(new Uri("https://heathskeyvault.vault.azure.net"), "281568504", "", JwsAlgorithm.RS256, ct);
        AssertReplayed();
        Assert.Equal(rsa.PublicJwk, latest!.PublicJwk);
        Assert.Equal("AQAB", rsa.PublicJwk.E);

        _fake.Replay(Path.Combine(Fixtures, "get-key-not-found.json"));
        Assert.Null(await client.GetKeyAsync(new Uri("https://heathskeyvault.vault.azure.net"), "526083110", "", JwsAlgorithm.ES256, ct));
        AssertReplayed();
    }

    [Fact]
    public async Task The_recorded_ES256_sign_replays_and_its_R_S_signature_verifies_through_our_JWS_code()
    {
        Assert.SkipWhen(!Directory.Exists(Fixtures), $"the recorded fixtures are not beside the repository ({Fixtures})");
        var ct = TestContext.Current.CancellationToken;
        var client = Client();
        _fake.Replay(Path.Combine(Fixtures, "sign-es256.json"));
        var vault = new Uri("https://heathskeyvault.vault.azure.net");

        var key = await client.CreateKeyAsync(vault, "250752066", JwsAlgorithm.ES256, 0, false, new Dictionary<string, string>(), ct);
        var digest = Base64Url.Decode("J4VsquSbsqvg_uzME28GjqBgiR4LZsF5L-fkZzc-b5I");
        var signature = await client.SignDigestAsync(key.KeyId, JwsAlgorithm.ES256, digest, ct);

        AssertReplayed();
        Assert.Equal(64, signature.Length);
        Assert.True(JwsVerifier.VerifyDigest(key.PublicJwk, digest, signature));
    }

    [Fact]
    public async Task A_version_is_read_published_and_used_with_the_algorithm_it_was_made_for_whatever_the_spec_says_now()
    {
        var ct = TestContext.Current.CancellationToken;
        var store = Store();
        var made = Set("PS256", uid: "6a1f0c2e-0000-4000-8000-000000000001");
        var created = await store.CreateAsync(made, 1, ct);

        // The same set, read as if its spec had been edited to RS256 (the reconciler refuses that edit; the store does not rely on it).
        var edited = Set("RS256", uid: made.Uid);
        var listed = Assert.Single(await store.ListAsync(edited, ct));
        Assert.Equal("PS256", listed.PublicJwk.Alg);
        Assert.Equal(created.Kid, listed.Kid);
        Assert.Equal("PS256", (await store.GetSignerMaterialAsync(edited, listed, ct)).Algorithm);
        var input = Encoding.ASCII.GetBytes("eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiJ4In0");
        var signature = await store.SignAsync(edited, listed.Kid, input, ct);
        Assert.True(JwsVerifier.Verify(listed.PublicJwk, input, signature), "signed as PS256, the key's algorithm");
    }

    public static TheoryData<string, bool> Algorithms => new() { { "ES256", false }, { "ES384", true }, { "ES512", false }, { "RS256", false }, { "PS256", true } };

    [Theory]
    [MemberData(nameof(Algorithms))]
    public async Task Keys_are_created_sign_verify_only_tagged_adopted_by_generation_and_sign_verifiably(string algorithm, bool hsm)
    {
        var ct = TestContext.Current.CancellationToken;
        var store = Store();
        var set = Set(algorithm, hsm: hsm);

        var created = await store.CreateAsync(set, 1, ct);
        var again = await store.CreateAsync(set, 1, ct);

        Assert.Equal(created.Kid, again.Kid);
        Assert.Equal(created.PublicJwk.ComputeThumbprint(), created.Kid);
        Assert.Equal(algorithm, created.PublicJwk.Alg);
        var version = Assert.Single(_fake.Versions("contoso.vault.azure.net", "jwt"));
        Assert.Equal(version.KeyId, created.VaultRef);
        Assert.Equal((algorithm.StartsWith("ES", StringComparison.Ordinal) ? "EC" : "RSA") + (hsm ? "-HSM" : ""), version.Kty);
        Assert.Equal(set.Uid, version.Tags[AzureKeyVaultKeyStore.UidTag]);
        Assert.Equal("1", version.Tags[AzureKeyVaultKeyStore.GenerationTag]);
        var create = _fake.Requests.First(r => r.Path.EndsWith("/create", StringComparison.Ordinal) && r.Authorized);
        Assert.Contains("\"key_ops\":[\"sign\",\"verify\"]", create.Body, StringComparison.Ordinal);
        Assert.Null((await store.GetSignerMaterialAsync(set, created, ct)).PrivateKeyPem);

        var input = Encoding.ASCII.GetBytes("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0");
        var signature = await store.SignAsync(set, created.Kid, input, ct);
        Assert.True(JwsVerifier.Verify(created.PublicJwk, input, signature), "the vault's signature verifies with the published JWK");

        await store.DisableAsync(set, created.Kid, ct);
        Assert.False(Assert.Single(await store.ListAsync(set, ct)).Enabled);
        await Assert.ThrowsAsync<KeyStoreException>(() => store.SignAsync(set, created.Kid, input, ct));
    }

    [Fact]
    public async Task Listing_follows_nextLink_so_every_generation_is_found_and_none_is_created_twice()
    {
        var ct = TestContext.Current.CancellationToken;
        var store = Store();
        var set = Set();
        var other = Set(uid: "someone-else");
        await store.CreateAsync(other, 1, ct);
        for (var generation = 1; generation <= 5; generation++)
            await store.CreateAsync(set, generation, ct);

        var fresh = Store(); // a restarted operator: no cache
        for (var generation = 1; generation <= 5; generation++)
            await fresh.CreateAsync(set, generation, ct);

        Assert.Equal([1L, 2, 3, 4, 5], (await fresh.ListAsync(set, ct)).Select(k => k.Generation).Order());
        Assert.Equal(6, _fake.Versions("contoso.vault.azure.net", "jwt").Count);
        Assert.Contains(_fake.Requests, r => r.Query.Contains("$skiptoken=4", StringComparison.Ordinal));

        // A store that has not listed the set yet finds the version to disable by listing.
        var third = (await fresh.ListAsync(set, ct)).Single(k => k.Generation == 3);
        await Store().DisableAsync(set, third.Kid, ct);
        Assert.False(_fake.Versions("contoso.vault.azure.net", "jwt").Single(v => v.KeyId == third.VaultRef).Enabled);
    }

    [Fact]
    public async Task Pruned_versions_are_disabled_and_hidden_and_only_deletionPolicy_Delete_deletes_and_purges_the_key()
    {
        var ct = TestContext.Current.CancellationToken;
        var store = Store();
        var set = Set(key: "pruned");
        var first = await store.CreateAsync(set, 1, ct);
        await store.CreateAsync(set, 2, ct);

        await store.DeleteAsync(set, first.Kid, ct);
        Assert.Equal([2L], (await store.ListAsync(set, ct)).Select(k => k.Generation));
        var pruned = _fake.Versions("contoso.vault.azure.net", "pruned")[0];
        Assert.False(pruned.Enabled);
        Assert.Equal("true", pruned.Tags[AzureKeyVaultKeyStore.RemovedTag]);

        await store.RemoveSetAsync(set, deleteKeys: false, ct);
        Assert.Equal(2, _fake.Versions("contoso.vault.azure.net", "pruned").Count);
        Assert.DoesNotContain(_fake.Requests, r => r.Method == "DELETE");

        await store.RemoveSetAsync(set, deleteKeys: true, ct);
        Assert.Empty(_fake.Versions("contoso.vault.azure.net", "pruned"));
        Assert.False(_fake.IsSoftDeleted("contoso.vault.azure.net", "pruned"), "the deleted key was purged");
    }

    [Fact]
    public async Task A_key_shared_with_another_set_is_never_deleted_with_one_of_them()
    {
        var ct = TestContext.Current.CancellationToken;
        var store = Store();
        var mine = Set(key: "shared");
        var theirs = Set(key: "shared");
        await store.CreateAsync(mine, 1, ct);
        await store.CreateAsync(theirs, 1, ct);

        await store.RemoveSetAsync(mine, deleteKeys: true, ct);

        Assert.Empty(await store.ListAsync(mine, ct));
        Assert.Single(await store.ListAsync(theirs, ct));
        Assert.Equal(2, _fake.Versions("contoso.vault.azure.net", "shared").Count);
    }

    [Fact]
    public async Task A_soft_deleted_key_name_is_neither_recovered_nor_purged_and_the_set_is_told_what_to_do()
    {
        var ct = TestContext.Current.CancellationToken;
        _fake.SeedSoftDeleted("contoso.vault.azure.net", "recycled");
        var store = Store();
        var set = Set(key: "recycled");

        var refused = await Assert.ThrowsAsync<KeyStoreException>(() => store.CreateAsync(set, 1, ct));

        Assert.Equal(Reasons.NameConflict, refused.Reason);
        Assert.Contains("key recycled in contoso.vault.azure.net is soft-deleted; KeyRotator neither recovers nor purges a deleted key", refused.Message, StringComparison.Ordinal);
        Assert.Contains("az keyvault key recover --vault-name contoso --name recycled", refused.Message, StringComparison.Ordinal);
        Assert.Contains(_fake.Requests, r => r.Status == 409);
        Assert.DoesNotContain(_fake.Requests, r => r.Path.StartsWith("/deletedkeys/", StringComparison.Ordinal));
        Assert.True(_fake.IsSoftDeleted("contoso.vault.azure.net", "recycled"), "the deletion stands");
    }

    [Fact]
    public async Task A_team_naming_another_namespaces_key_adds_no_version_to_it_and_is_told_so()
    {
        var ct = TestContext.Current.CancellationToken;
        var store = Store();
        var victim = Set(key: "payments-signing", ns: "payments");
        var attacker = Set(key: "payments-signing", ns: "intruders");
        var victimKey = await store.CreateAsync(victim, 1, ct);

        var refused = await Assert.ThrowsAsync<KeyStoreException>(() => store.CreateAsync(attacker, 1, ct));

        Assert.Equal(Reasons.NameConflict, refused.Reason);
        Assert.Contains("key payments-signing in contoso.vault.azure.net holds versions of a SigningKeySet in namespace payments; KeyRotator adds no version to it", refused.Message, StringComparison.Ordinal);
        Assert.Equal([victimKey.VaultRef], _fake.Versions("contoso.vault.azure.net", "payments-signing").Select(v => v.KeyId));
        Assert.Empty(await store.ListAsync(attacker, ct));
        Assert.Equal([victimKey.Kid], (await store.ListAsync(victim, ct)).Select(k => k.Kid));
    }

    [Fact]
    public async Task A_key_that_keyrotator_did_not_make_gets_no_version_of_a_set()
    {
        var ct = TestContext.Current.CancellationToken;
        var store = Store();
        var someone = Set(key: "hand-made");
        await store.CreateAsync(someone, 1, ct);
        foreach (var version in _fake.Versions("contoso.vault.azure.net", "hand-made"))
            version.Tags = new Dictionary<string, string> { ["owner"] = "someone" }; // made or retagged by hand

        var refused = await Assert.ThrowsAsync<KeyStoreException>(() => store.CreateAsync(Set(key: "hand-made"), 1, ct));

        Assert.Contains("holds versions that KeyRotator did not make", refused.Message, StringComparison.Ordinal);
        Assert.Single(_fake.Versions("contoso.vault.azure.net", "hand-made"));
    }

    [Fact]
    public async Task The_challenge_is_cached_per_vault_and_a_rejected_token_is_replaced_once()
    {
        var ct = TestContext.Current.CancellationToken;
        var store = Store();
        await store.CreateAsync(Set(vault: "https://one.vault.azure.net"), 1, ct);
        await store.CreateAsync(Set(vault: "https://one.vault.azure.net"), 1, ct);
        await store.CreateAsync(Set(vault: "https://two.vault.azure.net"), 1, ct);
        Assert.Equal(1, _fake.Requests.Count(r => r.Host == "one.vault.azure.net" && r.Status == 401));
        Assert.Equal(1, _fake.Requests.Count(r => r.Host == "two.vault.azure.net" && r.Status == 401));
        Assert.Equal(1, _credential.Issued);

        _fake.Inject(r => r.Host == "one.vault.azure.net", VaultFault.Unauthorized, times: 1);
        Assert.NotNull(await store.CreateAsync(Set(vault: "https://one.vault.azure.net"), 1, ct));
        Assert.Equal(2, _credential.Issued);
    }

    [Fact]
    public async Task Workload_identity_exchanges_the_federated_token_for_the_tenant_and_scope_the_vault_challenge_names()
    {
        var ct = TestContext.Current.CancellationToken;
        var store = Store(new KeyVaultClient(await WorkloadIdentityAsync(AzureKeyVaultFake.Tenant), _fake.ClientOptions(), new KeyVaultCreateLimiter(TimeProvider.System), TimeProvider.System));

        var created = await store.CreateAsync(Set(), 1, ct);

        var login = Assert.Single(_fake.LoginRequests);
        Assert.Equal(AzureKeyVaultFake.Tenant, login.Tenant);
        Assert.Equal("projected-service-account-token", login.ClientAssertion);
        Assert.Equal("11111111-2222-3333-4444-555555555555", login.ClientId);
        Assert.Contains("https://vault.azure.net/.default", login.Scope, StringComparison.Ordinal);
        Assert.Equal(created.VaultRef, Assert.Single(_fake.Versions("contoso.vault.azure.net", "jwt")).KeyId);
    }

    [Fact]
    public async Task A_vault_in_a_tenant_the_identity_is_not_allowed_for_is_a_clear_access_error()
    {
        var ct = TestContext.Current.CancellationToken;
        var store = Store(new KeyVaultClient(await WorkloadIdentityAsync("99999999-8888-7777-6666-555555555555"), _fake.ClientOptions(), new KeyVaultCreateLimiter(TimeProvider.System), TimeProvider.System));

        var error = await Assert.ThrowsAsync<KeyStoreException>(() => store.CreateAsync(Set(), 1, ct));

        Assert.Equal("VaultAccessDenied", error.Reason);
        Assert.Contains("could not get an Entra ID token for https://vault.azure.net/.default", error.Message, StringComparison.Ordinal);
        Assert.Contains(AzureKeyVaultFake.Tenant, error.Message, StringComparison.Ordinal);
        Assert.Empty(_fake.LoginRequests);
        Assert.Empty(_fake.Versions("contoso.vault.azure.net", "jwt"));
    }

    [Fact]
    public async Task A_challenge_for_another_resource_gets_no_token()
    {
        var ct = TestContext.Current.CancellationToken;
        _fake.ChallengeResource = "https://attacker.example.net";
        var error = await Assert.ThrowsAsync<KeyStoreException>(() => Store().CreateAsync(Set(), 1, ct));

        Assert.Equal("VaultAccessDenied", error.Reason);
        Assert.Contains("https://attacker.example.net, which does not match the vault host contoso.vault.azure.net", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, _credential.Issued);
        Assert.All(_fake.Requests, r => Assert.False(r.Authorized));
        Assert.Empty(_fake.Versions("contoso.vault.azure.net", "jwt"));
    }

    [Fact]
    public async Task A_429_storm_and_5xx_answers_are_retried_with_backoff_until_the_vault_takes_the_request()
    {
        var ct = TestContext.Current.CancellationToken;
        var store = Store();
        var set = Set();
        _fake.Inject(r => r.Path.EndsWith("/create", StringComparison.Ordinal), VaultFault.Throttled, times: 2);
        _fake.Inject(r => r.Path.EndsWith("/versions", StringComparison.Ordinal), VaultFault.ServerError, times: 1);

        var created = await store.CreateAsync(set, 1, ct);

        Assert.Equal(2, _fake.Requests.Count(r => r.Status == 429));
        Assert.Equal(1, _fake.Requests.Count(r => r.Status == 500));
        Assert.Equal(created.VaultRef, Assert.Single(_fake.Versions("contoso.vault.azure.net", "jwt")).KeyId);
    }

    [Fact]
    public async Task A_create_whose_answer_is_lost_is_never_retried_blindly_the_version_that_landed_is_adopted()
    {
        var ct = TestContext.Current.CancellationToken;
        var store = Store(Client(maxRetries: 3, timeoutSeconds: 1));
        var set = Set();
        _fake.Inject(r => r.Path.EndsWith("/create", StringComparison.Ordinal), VaultFault.LostAnswer, times: 1);

        var created = await store.CreateAsync(set, 1, ct);

        // One version: the pipeline did not resend the create after its timeout; the store listed and adopted.
        Assert.Equal(created.VaultRef, Assert.Single(_fake.Versions("contoso.vault.azure.net", "jwt")).KeyId);
    }

    [Fact]
    public async Task A_create_the_vault_refused_with_a_4xx_is_not_looked_for_as_if_it_may_have_landed()
    {
        var ct = TestContext.Current.CancellationToken;
        var store = Store(Client(maxRetries: 2, timeoutSeconds: 1));
        var set = Set();
        _fake.Inject(r => r.Path.EndsWith("/create", StringComparison.Ordinal), new VaultFault(400, "BadParameter", "The key size is not supported."), times: 1);

        var error = await Assert.ThrowsAsync<KeyStoreException>(() => store.CreateAsync(set, 1, ct));

        Assert.Equal("VaultError", error.Reason);
        Assert.False(error.OutcomeUnknown);
        Assert.Contains("HTTP 400 BadParameter", error.Message, StringComparison.Ordinal);
        var afterCreate = _fake.Requests.SkipWhile(r => !r.Path.EndsWith("/create", StringComparison.Ordinal)).Skip(1).ToList();
        Assert.DoesNotContain(afterCreate, r => r.Method == "GET");
        Assert.Empty(_fake.Versions("contoso.vault.azure.net", "jwt"));
    }

    [Fact]
    public async Task A_delete_whose_answer_is_lost_and_resent_to_a_404_still_purges_the_key()
    {
        var ct = TestContext.Current.CancellationToken;
        var store = Store(Client(maxRetries: 3, timeoutSeconds: 1));
        var set = Set(key: "lost-delete");
        await store.CreateAsync(set, 1, ct);
        _fake.Inject(r => r.Method == "DELETE" && r.Path.StartsWith("/keys/", StringComparison.Ordinal), VaultFault.LostAnswer, times: 1);

        await store.RemoveSetAsync(set, deleteKeys: true, ct);

        Assert.Empty(_fake.Versions("contoso.vault.azure.net", "lost-delete"));
        Assert.True(_fake.Requests.Count(r => r.Method == "DELETE" && r.Path.StartsWith("/keys/", StringComparison.Ordinal)) >= 2, "the delete was sent again after its answer was lost");
        Assert.False(_fake.IsSoftDeleted("contoso.vault.azure.net", "lost-delete"), "the deleted key was purged");
    }

    public static TheoryData<string, string, string> PersistentFaults => new()
    {
        { "throttled", "VaultThrottled", "HTTP 429 Throttled" },
        { "server error", "VaultUnavailable", "HTTP 500 InternalServerError" },
        { "unavailable", "VaultUnavailable", "HTTP 503 ServiceUnavailable" },
        { "forbidden", "VaultAccessDenied", "Key Vault Crypto Officer" },
        { "timeout", "VaultUnavailable", "did not answer in time" },
        { "malformed", "VaultError", "body that is not JSON" },
    };

    [Theory]
    [MemberData(nameof(PersistentFaults))]
    public async Task A_fault_that_outlasts_the_retries_is_a_clear_error_and_nothing_is_created_twice_afterwards(string fault, string reason, string message)
    {
        var ct = TestContext.Current.CancellationToken;
        var store = Store(Client(maxRetries: 2, timeoutSeconds: 1));
        var set = Set();
        await store.CreateAsync(set, 1, ct);
        var injected = VaultFault.Named(fault);
        // Every create from now on gets the fault instead of an answer.
        _fake.Inject(r => r.Path.EndsWith("/create", StringComparison.Ordinal), injected);

        var error = await Assert.ThrowsAsync<KeyStoreException>(() => store.CreateAsync(set, 2, ct));

        Assert.Equal(reason, error.Reason);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.Contains("contoso.vault.azure.net", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(FakeTokenCredential.TokenPrefix, error.Message, StringComparison.Ordinal);

        _fake.ClearFaults();
        var second = await store.CreateAsync(set, 2, ct);
        Assert.Equal([1L, 2L], (await store.ListAsync(set, ct)).Select(k => k.Generation).Order());
        Assert.Equal(2, _fake.Versions("contoso.vault.azure.net", "jwt").Count);
        Assert.Equal(second.Kid, (await store.CreateAsync(set, 2, ct)).Kid);
    }
}
