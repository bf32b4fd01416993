// Longer than 300 lines: every algorithm and failure runs against one SoftHSM2 token set-up.
using System.Text;
using k8s;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Operator.Vault;
using KeyRotator.Testing;
using Microsoft.Extensions.Time.Testing;

namespace KeyRotator.Operator.Tests.Vault;

/// <summary>The PKCS#11 key store against a real SoftHSM2 token; the PIN comes from a real Secret.</summary>
public sealed class Pkcs11KeyStoreTests(KubernetesEnvironment env)
{
    public static TheoryData<string> Algorithms => ["RS256", "PS256", "ES256", "ES384"];

    private async Task<(Pkcs11KeyStore Store, KeySetContext Set)> ArrangeAsync(string algorithm, string pin = SoftHsm.UserPin, string token = SoftHsm.TokenLabel, string library = SoftHsm.Library)
    {
        Assert.SkipWhen(SoftHsm.Unavailable is not null, SoftHsm.Unavailable ?? "");
        SoftHsm.EnsureToken();
        var ns = await env.CreateNamespaceAsync("pkcs11", TestContext.Current.CancellationToken);
        await env.GrantVaultAsync(ns, pkcs11: new Pkcs11Grant { Library = library, TokenLabel = token }, cancellationToken: TestContext.Current.CancellationToken);
        await env.Admin.CoreV1.CreateNamespacedSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = "hsm-pin" },
            Data = new Dictionary<string, byte[]> { ["pin"] = Encoding.UTF8.GetBytes(pin) },
        }, ns);
        var spec = new SigningKeySetSpec
        {
            Algorithm = algorithm,
            RsaKeySize = algorithm.StartsWith("ES", StringComparison.Ordinal) ? null : 2048,
            Rotation = new RotationSpec { Interval = "720h" },
            Vault = new VaultSpec { Provider = "Pkcs11", Pkcs11 = new Pkcs11Spec { Library = library, TokenLabel = token, PinSecretRef = new SecretKeySelector { Name = "hsm-pin", Key = "pin" } } },
        };
        var policy = SpecValidator.Validate(spec, new RotationPolicyOptions()).Policy!;
        var set = new KeySetContext(ns, "auth", Guid.NewGuid().ToString(), policy, spec);
        return (new Pkcs11KeyStore(new KeyRotator.Operator.Informers.ObjectClient(new k8s.Kubernetes(env.OperatorConfig), new KeyRotator.Operator.Informers.ObjectCache()), new FakeTimeProvider(DateTimeOffset.UtcNow)), set);
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public async Task Keys_are_generated_on_the_token_adopted_by_generation_and_sign_verifiably_through_the_published_jwk(string algorithm)
    {
        var ct = TestContext.Current.CancellationToken;
        var (store, set) = await ArrangeAsync(algorithm);

        var created = await store.CreateAsync(set, 1, ct);
        var again = await store.CreateAsync(set, 1, ct);
        var listed = await store.ListAsync(set, ct);

        Assert.Equal(created.Kid, again.Kid);
        Assert.Equal(created.Kid, Assert.Single(listed).Kid);
        Assert.Equal(created.PublicJwk.ComputeThumbprint(), created.Kid);
        Assert.StartsWith("pkcs11:token=keyrotator;object=kr%3A", created.VaultRef, StringComparison.Ordinal);
        var material = await store.GetSignerMaterialAsync(set, created, ct);
        Assert.Null(material.PrivateKeyPem);

        var input = Encoding.ASCII.GetBytes("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0");
        var signature = await store.SignAsync(set, created.Kid, input, ct);
        Assert.True(JwsVerifier.Verify(created.PublicJwk, input, signature), "the token's signature verifies with the JWK");

        await store.DisableAsync(set, created.Kid, ct);
        Assert.False(Assert.Single(await store.ListAsync(set, ct)).Enabled);
        await Assert.ThrowsAsync<KeyStoreException>(() => store.SignAsync(set, created.Kid, input, ct));
        await store.RemoveSetAsync(set, deleteKeys: true, ct);
        Assert.Empty(await store.ListAsync(set, ct));
    }

    [Fact]
    public async Task A_key_is_read_published_and_used_with_the_algorithm_it_was_made_for_whatever_the_spec_says_now()
    {
        var ct = TestContext.Current.CancellationToken;
        var (store, made) = await ArrangeAsync("PS256");
        var created = await store.CreateAsync(made, 1, ct);

        // The same set read as if its spec said RS256 now (the reconciler refuses that edit; the store does not rely on it).
        var policy = made.Policy with { Algorithm = JwsAlgorithm.RS256 };
        var edited = made with { Policy = policy, Spec = made.Spec with { Algorithm = "RS256" } };
        var listed = Assert.Single(await store.ListAsync(edited, ct));
        Assert.Equal("PS256", listed.PublicJwk.Alg);
        Assert.Equal(created.Kid, listed.Kid);
        Assert.Equal("PS256", (await store.GetSignerMaterialAsync(edited, listed, ct)).Algorithm);
        var input = Encoding.ASCII.GetBytes("eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiJ4In0");
        var signature = await store.SignAsync(edited, listed.Kid, input, ct);
        Assert.True(JwsVerifier.Verify(listed.PublicJwk, input, signature), "signed as PS256, the key's algorithm");
        await store.RemoveSetAsync(made, deleteKeys: true, ct);
    }

    [Fact]
    public async Task A_wrong_PIN_a_missing_token_a_missing_library_and_a_file_that_is_no_module_each_get_a_clear_error_without_the_PIN()
    {
        var ct = TestContext.Current.CancellationToken;
        var (wrongPin, set) = await ArrangeAsync("ES256", pin: "9999");
        var error = await Assert.ThrowsAsync<KeyStoreException>(() => wrongPin.ListAsync(set, ct));
        Assert.Contains("refused the PIN from Secret", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("9999", error.Message, StringComparison.Ordinal);
        Assert.Equal("VaultAccessDenied", error.Reason);

        var (noToken, set2) = await ArrangeAsync("ES256", token: "no-such-token");
        error = await Assert.ThrowsAsync<KeyStoreException>(() => noToken.ListAsync(set2, ct));
        Assert.Contains("no token labelled \"no-such-token\"", error.Message, StringComparison.Ordinal);

        var (noLibrary, set3) = await ArrangeAsync("ES256", library: "/opt/vendor/libmissing.so");
        error = await Assert.ThrowsAsync<KeyStoreException>(() => noLibrary.ListAsync(set3, ct));
        Assert.Contains("/opt/vendor/libmissing.so does not exist", error.Message, StringComparison.Ordinal);

        var notAModule = Path.Combine(SoftHsm.EnsureToken(), "softhsm2.conf"); // a file, but no PKCS#11 module
        var (wrongFile, set4) = await ArrangeAsync("ES256", library: notAModule);
        error = await Assert.ThrowsAsync<KeyStoreException>(() => wrongFile.ListAsync(set4, ct));
        Assert.Equal($"{notAModule} could not be loaded as a PKCS#11 module (no loadable C_GetFunctionList)", error.Message);
        Assert.Equal("VaultUnavailable", error.Reason);
    }

    [Fact]
    public async Task Sessions_are_pooled_and_logged_in_once_for_many_operations()
    {
        var ct = TestContext.Current.CancellationToken;
        var (store, set) = await ArrangeAsync("ES256");
        var key = await store.CreateAsync(set, 1, ct);
        var opened = Pkcs11Tokens.SessionsOpened;
        var logins = Pkcs11Tokens.LoginAttempts;

        var input = Encoding.ASCII.GetBytes("header.payload");
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < 10; i++)
            {
                Assert.Single(await store.ListAsync(set, ct));
                var signature = await store.SignAsync(set, key.Kid, input, ct);
                Assert.True(JwsVerifier.Verify(key.PublicJwk, input, signature));
            }
        }, ct)));

        Assert.InRange(Pkcs11Tokens.SessionsOpened - opened, 0, 4); // at most one per concurrent caller, not one per call
        Assert.Equal(logins, Pkcs11Tokens.LoginAttempts);
    }

    [Fact]
    public async Task A_refused_PIN_is_not_presented_again_until_the_Secret_changes()
    {
        var ct = TestContext.Current.CancellationToken;
        var (store, set) = await ArrangeAsync("ES256", pin: "4321");
        var logins = Pkcs11Tokens.LoginAttempts;

        for (var i = 0; i < 3; i++)
        {
            var error = await Assert.ThrowsAsync<KeyStoreException>(() => store.ListAsync(set, ct));
            Assert.Contains("refused the PIN", error.Message, StringComparison.Ordinal);
        }

        Assert.Equal(1, Pkcs11Tokens.LoginAttempts - logins);
        await SetPinAsync(set.Namespace, SoftHsm.UserPin);
        Assert.Empty(await store.ListAsync(set, ct));
    }

    [Fact]
    public async Task Operator_publishes_a_jwks_built_from_the_tokens_public_keys_and_gives_signers_only_a_reference()
    {
        var ct = TestContext.Current.CancellationToken;
        var (store, context) = await ArrangeAsync("ES256");
        var ns = context.Namespace;
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        var (scenario, set) = await CreateHsmSetAsync(context, "ES256");

        var jwks = (await scenario.JwksAsync("hsm-jwks"))!;
        var key = Assert.Single(jwks.Keys);
        Assert.Equal(set.Status!.ActiveKeyId, key.Kid);
        var secret = await env.Admin.CoreV1.ReadNamespacedSecretAsync("hsm-signing", ns, cancellationToken: ct);
        Assert.False(secret.Data.ContainsKey("private-key.pem"));
        Assert.StartsWith("pkcs11:token=keyrotator;", Encoding.UTF8.GetString(secret.Data["key-ref"]), StringComparison.Ordinal);

        // A signer using the HSM through the reference produces tokens the published JWKS verifies.
        var liveContext = context with { Uid = set.Metadata.Uid, Name = "hsm" };
        var input = Encoding.ASCII.GetBytes("header.payload");
        var signature = await store.SignAsync(liveContext, key.Kid, input, ct);
        Assert.True(JwsVerifier.Verify(key, input, signature));
    }

    [Fact]
    public async Task A_vault_outage_mid_rotation_keeps_the_jwks_sets_Degraded_without_secrets_and_recovers_by_itself()
    {
        var ct = TestContext.Current.CancellationToken;
        var (_, context) = await ArrangeAsync("ES384");
        var ns = context.Namespace;
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        var (scenario, before) = await CreateHsmSetAsync(context, "ES384");
        var jwksBefore = (await scenario.JwksJsonAsync("hsm-jwks"))!;

        // The HSM starts refusing the operator (its PIN was rotated without updating the Secret).
        await SetPinAsync(ns, "0000");
        await scenario.EditAsync(before.Metadata.Name, s => s.Metadata.Annotations = new Dictionary<string, string> { [KeyRotator.Model.Kubernetes.Labels.RotateNowAnnotation] = "during-outage" }, ct);

        var degraded = await Eventually.HoldsAsync(() => scenario.GetAsync("hsm"),
            s => ConditionSet.IsTrue(s.Status?.Conditions, ConditionSet.Degraded), TimeSpan.FromSeconds(15), "Degraded during the outage", ct);
        var condition = ConditionSet.Find(degraded.Status!.Conditions, ConditionSet.Degraded)!;
        Assert.Equal("VaultAccessDenied", condition.Reason);
        Assert.Contains("refused the PIN", condition.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("0000", condition.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(SoftHsm.UserPin, condition.Message, StringComparison.Ordinal);
        Assert.Equal(jwksBefore, await scenario.JwksJsonAsync("hsm-jwks"));
        Assert.Equal(before.Status!.ActiveKeyId, degraded.Status.ActiveKeyId);

        // The PIN is fixed: the operator retries by itself and finishes the rotation.
        await SetPinAsync(ns, SoftHsm.UserPin);
        var recovered = await Eventually.HoldsAsync(() => scenario.GetAsync("hsm"),
            s => s.Status?.ActiveKeyId is { } kid && kid != before.Status.ActiveKeyId && !ConditionSet.IsTrue(s.Status.Conditions, ConditionSet.Degraded),
            TimeSpan.FromSeconds(30), "recovery and the rotation completing", ct);
        Assert.Contains(recovered.Status!.ActiveKeyId!, (await scenario.JwksJsonAsync("hsm-jwks"))!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Operator_killed_between_creating_a_token_key_and_writing_status_adopts_that_key_on_restart()
    {
        var ct = TestContext.Current.CancellationToken;
        var (store, context) = await ArrangeAsync("ES256");
        var ns = context.Namespace;
        var noLeaderElection = new Dictionary<string, string?> { ["KeyRotator:LeaderElection:Enabled"] = "false" };
        var crash = new CrashingHandler(r => r.Method == HttpMethod.Put && r.RequestUri!.AbsolutePath.EndsWith("/configmaps/hsm-jwks", StringComparison.Ordinal));
        var first = await OperatorInstance.StartAsync(env, [ns], settings: noLeaderElection, handlers: [crash]);
        var (scenario, before) = await CreateHsmSetAsync(context, "ES256");
        await first.WaitForQuietQueueAsync(ct);

        crash.Armed = true;
        await scenario.EditAsync(before.Metadata.Name, s => s.Metadata.Annotations = new Dictionary<string, string> { [KeyRotator.Model.Kubernetes.Labels.RotateNowAnnotation] = "crash" }, ct);
        await crash.Crashed.WaitAsync(TimeSpan.FromSeconds(20), ct);
        await first.DisposeAsync();

        var live = context with { Uid = before.Metadata.Uid, Name = "hsm" };
        Assert.Equal([1L, 2L], (await store.ListAsync(live, ct)).Select(k => k.Generation).Order());

        await using var second = await OperatorInstance.StartAsync(env, [ns], settings: noLeaderElection);
        var after = await Eventually.HoldsAsync(() => scenario.GetAsync("hsm"),
            s => s.Status?.ActiveKeyId is { } kid && kid != before.Status!.ActiveKeyId, TimeSpan.FromSeconds(20), "the rotation finishing after the restart", ct);
        var onToken = await store.ListAsync(live, ct);
        Assert.Equal([1L, 2L], onToken.Select(k => k.Generation).Order());
        Assert.Equal(onToken.Single(k => k.Generation == 2).Kid, after.Status!.ActiveKeyId);
    }

    [Fact]
    public async Task A_key_revoked_while_the_vault_is_down_still_leaves_the_jwks_and_the_signing_secret_at_once()
    {
        var ct = TestContext.Current.CancellationToken;
        var (_, context) = await ArrangeAsync("ES256");
        var ns = context.Namespace;
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        var (scenario, set) = await CreateHsmSetAsync(context, "ES256");
        var compromised = set.Status!.ActiveKeyId!;

        await SetPinAsync(ns, "0000");
        await scenario.EditAsync(set.Metadata.Name, s => s.Spec = s.Spec with { RevokedKeyIds = [compromised] }, ct);

        await Eventually.HoldsAsync(async () => (await scenario.JwksAsync("hsm-jwks"), await env.Admin.CoreV1.ReadNamespacedSecretAsync("hsm-signing", ns, cancellationToken: ct)),
            o => o.Item1!.Keys.All(k => k.Kid != compromised) && !(o.Item2.Data ?? new Dictionary<string, byte[]>()).ContainsKey("key-ref"),
            TimeSpan.FromSeconds(5), "the revoked kid leaving the JWKS and the signing Secret during the outage", ct);
        Assert.True(ConditionSet.IsTrue((await scenario.GetAsync("hsm")).Status!.Conditions, ConditionSet.Degraded));

        await SetPinAsync(ns, SoftHsm.UserPin);
        var recovered = await Eventually.HoldsAsync(() => scenario.GetAsync("hsm"),
            s => s.Status?.ActiveKeyId is { } kid && kid != compromised && !ConditionSet.IsTrue(s.Status.Conditions, ConditionSet.Degraded),
            TimeSpan.FromSeconds(30), "a replacement once the vault answers", ct);
        Assert.Equal("Revoked", recovered.Status!.Keys!.Single(k => k.Kid == compromised).State);
        Assert.DoesNotContain(compromised, (await scenario.JwksJsonAsync("hsm-jwks"))!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deleting_a_set_whose_vault_refuses_keeps_the_finalizer_with_a_condition_until_the_vault_answers()
    {
        var ct = TestContext.Current.CancellationToken;
        var (_, context) = await ArrangeAsync("ES256");
        var ns = context.Namespace;
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        var (scenario, _) = await CreateHsmSetAsync(context, "ES256", deletionPolicy: "Delete");

        await SetPinAsync(ns, "0000");
        await scenario.Sets.DeleteAsync(ns, "hsm", ct);

        var stuck = await Eventually.HoldsAsync(() => scenario.GetAsync("hsm"),
            s => ConditionSet.Find(s.Status?.Conditions, ConditionSet.Degraded) is { Status: "True" } d && d.Message.Contains("is being deleted", StringComparison.Ordinal),
            TimeSpan.FromSeconds(15), "Degraded saying why the set cannot go yet", ct);
        Assert.Contains("could not be deleted", ConditionSet.Find(stuck.Status!.Conditions, ConditionSet.Degraded)!.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("0000", ConditionSet.Find(stuck.Status.Conditions, ConditionSet.Degraded)!.Message, StringComparison.Ordinal);

        await SetPinAsync(ns, SoftHsm.UserPin);
        await scenario.WaitUntilGoneAsync("hsm", TimeSpan.FromSeconds(60), ct);
    }

    [Fact]
    public async Task A_set_whose_PIN_Secret_is_gone_is_deleted_with_an_Event_saying_its_keys_stay_on_the_token()
    {
        var ct = TestContext.Current.CancellationToken;
        var (_, context) = await ArrangeAsync("ES256");
        var ns = context.Namespace;
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        var (scenario, set) = await CreateHsmSetAsync(context, "ES256", deletionPolicy: "Delete");

        await env.Admin.CoreV1.DeleteNamespacedSecretAsync("hsm-pin", ns, cancellationToken: ct);
        await scenario.Sets.DeleteAsync(ns, "hsm", ct);

        await scenario.WaitUntilGoneAsync("hsm", cancellationToken: ct);
        var events = await scenario.WaitForEventAsync("hsm", "KeysNotRemoved", ct);
        var notRemoved = Assert.Single(events, e => e.Reason == "KeysNotRemoved");
        Assert.Contains("PIN Secret", notRemoved.Message, StringComparison.Ordinal);
        Assert.Contains($"kr:{set.Metadata.Uid}", notRemoved.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Retain_then_recreate_gives_fresh_keys_and_Delete_removes_them_from_the_token_even_with_an_invalid_spec()
    {
        var ct = TestContext.Current.CancellationToken;
        var (store, context) = await ArrangeAsync("ES256");
        var ns = context.Namespace;
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        var (scenario, first) = await CreateHsmSetAsync(context, "ES256");
        var old = first.Status!.ActiveKeyId!;

        // Retain (the default): the set goes, its key stays on the token; a set of the same name starts afresh.
        await scenario.Sets.DeleteAsync(ns, "hsm", ct);
        await scenario.WaitUntilGoneAsync("hsm", cancellationToken: ct);
        var retained = context with { Uid = first.Metadata.Uid };
        Assert.Equal(old, Assert.Single(await store.ListAsync(retained, ct)).Kid);
        var (_, second) = await CreateHsmSetAsync(context, "ES256", deletionPolicy: "Delete");
        Assert.NotEqual(old, second.Status!.ActiveKeyId);
        Assert.DoesNotContain(second.Status.Keys!, k => k.Kid == old);
        Assert.DoesNotContain(old, (await scenario.JwksJsonAsync("hsm-jwks"))!, StringComparison.Ordinal);

        // Delete, with a spec that has since become invalid: the keys still leave the token.
        await scenario.EditAsync(second.Metadata.Name, s => s.Spec = s.Spec with { Rotation = s.Spec.Rotation with { Overlap = "1s" } }, ct);
        await scenario.WaitForReadyReasonAsync("hsm", "InvalidSpec", ct);
        await scenario.Sets.DeleteAsync(ns, "hsm", ct);
        await scenario.WaitUntilGoneAsync("hsm", cancellationToken: ct);
        Assert.Empty(await store.ListAsync(context with { Uid = second.Metadata.Uid }, ct));
        Assert.Equal(old, Assert.Single(await store.ListAsync(retained, ct)).Kid); // the first set's retained key is not the second's to delete
        await store.RemoveSetAsync(retained, deleteKeys: true, ct);
    }

    /// <summary>A set "hsm" on the SoftHSM token of <paramref name="context"/>, once its first key signs.</summary>
    private async Task<(OperatorScenario Scenario, V1Alpha1SigningKeySet Set)> CreateHsmSetAsync(KeySetContext context, string algorithm, string? deletionPolicy = null)
    {
        var scenario = new OperatorScenario(env, context.Namespace);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("hsm", context.Namespace)
            .WithAlgorithm(algorithm)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
            .WithSpec(s => s with { Vault = context.Spec.Vault, DeletionPolicy = deletionPolicy })
            .Build());
        return (scenario, await scenario.WaitForActiveKeyAsync("hsm"));
    }

    /// <summary>Changes the PIN the operator reads, as someone rotating the HSM PIN would.</summary>
    [Fact]
    public async Task A_team_flipping_wrong_PINs_on_a_shared_token_presents_each_once_and_cannot_lock_it_for_another_team()
    {
        var ct = TestContext.Current.CancellationToken;
        var (victimStore, victim) = await ArrangeAsync("ES256");
        var (attackerStore, attacker) = await ArrangeAsync("ES256", pin: "1111"); // another namespace granted the same token
        var key = await victimStore.CreateAsync(victim, 1, ct);
        var input = Encoding.ASCII.GetBytes("header.payload");
        var logins = Pkcs11Tokens.LoginAttempts;

        // The attacker flips its PIN Secret between two wrong PINs, its set retrying each; the victim signs throughout.
        for (var round = 0; round < 4; round++)
        {
            foreach (var pin in new[] { "1111", "2222" })
            {
                await SetPinAsync(attacker.Namespace, pin);
                for (var retry = 0; retry < 3; retry++)
                    Assert.Contains("refused the PIN", (await Assert.ThrowsAsync<KeyStoreException>(() => attackerStore.ListAsync(attacker, ct))).Message, StringComparison.Ordinal);
                var signature = await victimStore.SignAsync(victim, key.Kid, input, ct);
                Assert.True(JwsVerifier.Verify(key.PublicJwk, input, signature));
            }
        }

        // Each wrong PIN reached the token once (the rest are the victim's logins after them), not once per retry.
        Assert.InRange(Pkcs11Tokens.LoginAttempts - logins, 2, 4);

        // A third new wrong PIN reaches it; after that no new PIN of the namespace does, for the window.
        await SetPinAsync(attacker.Namespace, "3333");
        await Assert.ThrowsAsync<KeyStoreException>(() => attackerStore.ListAsync(attacker, ct));
        var afterBudget = Pkcs11Tokens.LoginAttempts;
        foreach (var pin in new[] { "4444", "5555", SoftHsm.UserPin })
        {
            await SetPinAsync(attacker.Namespace, pin);
            var refused = await Assert.ThrowsAsync<KeyStoreException>(() => attackerStore.ListAsync(attacker, ct));
            Assert.Contains($"refused 3 PINs from namespace {attacker.Namespace} within 10 minutes; no new PIN from it is presented until that window passes", refused.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(pin, refused.Message, StringComparison.Ordinal);
        }

        Assert.Equal(afterBudget, Pkcs11Tokens.LoginAttempts); // not one of them was presented
        var last = await victimStore.SignAsync(victim, key.Kid, input, ct);
        Assert.True(JwsVerifier.Verify(key.PublicJwk, input, last));
    }

    private async Task SetPinAsync(string ns, string pin)
    {
        var secret = await env.Admin.CoreV1.ReadNamespacedSecretAsync("hsm-pin", ns);
        secret.Data["pin"] = Encoding.UTF8.GetBytes(pin);
        await env.Admin.CoreV1.ReplaceNamespacedSecretAsync(secret, "hsm-pin", ns);
    }
}
