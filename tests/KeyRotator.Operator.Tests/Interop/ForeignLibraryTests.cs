using System.Security.Claims;
using KeyRotator.Client;
using KeyRotator.Core.Keys;
using KeyRotator.Model.Jose;
using KeyRotator.Operator.Serving;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Interop;

/// <summary>
/// What services written against other JWT libraries observe. A set's published JWKS and the key in
/// its signing Secret must work with panva/jose (Node.js), PyJWT (Python) and go-jose (Go) as they are, in both
/// directions: tokens KeyRotator's signer makes verify there, tokens they sign with the Secret's PEM
/// verify in KeyRotator.Client, a key that is not published is refused, and rotation and revocation
/// look to them as the design says.
/// </summary>
public sealed class ForeignLibraryTests(KubernetesEnvironment env)
{
    private static readonly (string Alg, int? RsaKeySize)[] Algorithms =
    [
        ("RS256", 2048), ("RS384", null), ("RS512", 4096),
        ("PS256", 2048), ("PS384", 2048), ("PS512", 2048),
        ("ES256", null), ("ES384", null), ("ES512", null),
    ];

    [Fact]
    public async Task Every_algorithm_works_both_ways_with_panva_jose_PyJWT_and_go_jose_and_a_key_outside_the_JWKS_is_refused()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("interop", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        foreach (var (alg, size) in Algorithms)
        {
            await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named(alg.ToLowerInvariant(), ns)
                .WithAlgorithm(alg, size)
                .WithRotation(r => r with { Interval = "1h", PrePublish = "1s" })
                .Build(), ct);
        }

        var cases = new List<ForeignLibraries.Case>();
        foreach (var (alg, _) in Algorithms)
        {
            var name = alg.ToLowerInvariant();
            await scenario.WaitForActiveKeyAsync(name, TimeSpan.FromSeconds(60));
            var jwks = (await scenario.JwksJsonAsync($"{name}-jwks"))!;
            var (kid, pem, _) = await scenario.SigningAsync($"{name}-signing");
            var token = await SignAsKeyRotatorSignerAsync(ns, $"{name}-signing", ct);
            var forged = TokenSigner.Sign(UnpublishedKeyPem(alg), kid!, alg, ForeignLibraries.Issuer, ForeignLibraries.Audience, DateTime.UtcNow, TimeSpan.FromMinutes(5));
            cases.Add(new(alg, alg, jwks, [token, forged], kid, pem));
        }

        var jose = await ForeignLibraries.JoseAsync(cases);
        var pyjwt = await ForeignLibraries.PyJwtAsync(cases);
        var gojose = await ForeignLibraries.GoJoseAsync(cases);

        foreach (var report in new[] { jose, pyjwt, gojose })
        {
            foreach (var c in cases)
            {
                var result = report[c.Name];
                var (ours, forged) = (result.Verdicts[0], result.Verdicts[1]);
                Assert.True(ours.Valid, $"{report.Library} refused a {c.Alg} token from KeyRotatorSigner: {ours.Error}");
                Assert.Equal(c.Kid, ours.Kid);
                Assert.False(forged.Valid, $"{report.Library} accepted a {c.Alg} token signed by a key that is not in the JWKS");
                Assert.Contains("ignature", forged.Error, StringComparison.Ordinal);

                var theirs = await ValidateWithKeyRotatorClientAsync(result.Signed!, c.Jwks);
                Assert.True(theirs.IsValid, $"KeyRotator.Client refused {report.Library}'s {c.Alg} token: {theirs.Reason} {theirs.Message}");
                Assert.Equal(c.Kid, theirs.Kid);
            }
        }

        // The kid is the key's RFC 7638 thumbprint as jose and go-jose compute it.
        foreach (var report in new[] { jose, gojose })
        {
            foreach (var c in cases)
            {
                var published = Assert.Single(report[c.Name].Thumbprints!);
                Assert.Equal(c.Kid, published.Kid);
                Assert.True(published.Thumbprint == published.Kid, $"{report.Library} computes the {c.Alg} key's thumbprint as {published.Thumbprint}, not its kid {published.Kid}");
            }
        }
    }

    [Fact]
    public async Task Through_a_rotation_jose_PyJWT_and_go_jose_accept_tokens_of_both_keys_and_after_a_revocation_refuse_the_revoked_one()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("interop-rotation", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "1s", Overlap = "20m" })
            .Build(), ct);
        var first = (await scenario.WaitForActiveKeyAsync("auth")).Status!.ActiveKeyId!;

        // A service's signer reads the signing Secret from its volume, and keeps reading it across the rotation.
        await using var volume = VolumeMirror.ForSecret(env.Admin, ns, "auth-signing");
        var signer = new KeyRotatorSigner(volume.Directory);
        await Eventually.HoldsAsync(() => Task.FromResult(signer.CurrentKid()), kid => kid == first, TimeSpan.FromSeconds(10), "the signer on the first key", ct);
        var before = Sign(signer);

        var second = (await scenario.RotateNowAsync("auth", first, ct)).Status!.ActiveKeyId!;
        await Eventually.HoldsAsync(() => Task.FromResult(signer.CurrentKid()), kid => kid == second, TimeSpan.FromSeconds(10), "the signer on the second key", ct);
        var after = Sign(signer);

        var overlapping = new ForeignLibraries.Case("overlap", "ES256", (await scenario.JwksJsonAsync("auth-jwks"))!, [before, after]);
        foreach (var report in await ForeignLibraries.AllAsync([overlapping]))
        {
            var verdicts = report["overlap"].Verdicts;
            Assert.True(verdicts[0].Valid, $"{report.Library} refused a token of the retiring key during the overlap: {verdicts[0].Error}");
            Assert.Equal(first, verdicts[0].Kid);
            Assert.True(verdicts[1].Valid, $"{report.Library} refused a token of the new key: {verdicts[1].Error}");
            Assert.Equal(second, verdicts[1].Kid);
        }

        await scenario.Sets.UpdateAsync(ns, "auth", set =>
        {
            set.Spec = set.Spec with { RevokedKeyIds = [first] };
            return true;
        }, ct);
        var jwks = await Eventually.HoldsAsync(() => scenario.JwksJsonAsync("auth-jwks"), j => j is not null && !j.Contains(first, StringComparison.Ordinal), TimeSpan.FromSeconds(5), "the revoked key out of the JWKS", ct);

        var revoked = new ForeignLibraries.Case("revoked", "ES256", jwks!, [before, after]);
        foreach (var report in await ForeignLibraries.AllAsync([revoked]))
        {
            var verdicts = report["revoked"].Verdicts;
            Assert.False(verdicts[0].Valid, $"{report.Library} still accepts a token of the revoked key {first}");
            Assert.True(verdicts[1].Valid, $"{report.Library} refused a token of the active key after the revocation: {verdicts[1].Error}");
        }
    }

    [Fact]
    public async Task Verifiers_fetching_the_JWKS_over_HTTP_with_jose_and_PyJWKClient_accept_every_token_across_three_rotations_and_drop_a_revoked_key_within_their_cache_age()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("interop-http", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorProcess.StartServingAsync(env, "operator-interop-http", [ns]);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "8s", Overlap = "20m" })
            .Build(), ct);
        var kid = (await scenario.WaitForActiveKeyAsync("auth")).Status!.ActiveKeyId!;

        // Each caches the key set no longer than the endpoint's max-age, as docs/consumers.md tells them to.
        var jwksUri = new Uri(op.BaseAddress!, $"/v1/namespaces/{ns}/signingkeysets/auth/jwks.json");
        var cacheAge = JwksEndpoint.MaxAge(TimeSpan.FromSeconds(8));
        await using var jose = ForeignLibraries.RemoteVerifier.Jose(jwksUri, "ES256", cacheAge);
        await using var pyjwt = ForeignLibraries.RemoteVerifier.PyJwt(jwksUri, "ES256", cacheAge);
        await using var volume = VolumeMirror.ForSecret(env.Admin, ns, "auth-signing");
        var signer = new KeyRotatorSigner(volume.Directory);
        await Eventually.HoldsAsync(() => Task.FromResult(signer.CurrentKid()), k => k == kid, TimeSpan.FromSeconds(10), "the signer on the first key", ct);
        var tokens = new List<(string Kid, string Token)> { (kid, Sign(signer)) };

        for (var rotation = 1; rotation <= 3; rotation++)
        {
            kid = (await scenario.RotateNowAsync("auth", kid, ct)).Status!.ActiveKeyId!;
            await Eventually.HoldsAsync(() => Task.FromResult(signer.CurrentKid()), k => k == kid, TimeSpan.FromSeconds(10), $"the signer on key {rotation + 1}", ct);
            tokens.Add((kid, Sign(signer)));

            // The new key's token, and every earlier one (their keys are within the overlap), verify.
            foreach (var verifier in new[] { jose, pyjwt })
            {
                foreach (var (signedBy, token) in tokens)
                {
                    var verdict = await verifier.VerifyAsync(token, ct);
                    Assert.True(verdict.Valid, $"{verifier.Library} refused a token of {signedBy} after rotation {rotation}: {verdict.Error}");
                    Assert.Equal(signedBy, verdict.Kid);
                }
            }
        }

        await scenario.Sets.UpdateAsync(ns, "auth", set =>
        {
            set.Spec = set.Spec with { RevokedKeyIds = [tokens[0].Kid] };
            return true;
        }, ct);

        // The revoked key leaves the served JWKS (RevocationTests bound that); from then on each verifier
        // drops it once its cache ages out.
        using var http = new HttpClient();
        await Eventually.HoldsAsync(() => http.GetStringAsync(jwksUri, ct), json => !json.Contains(tokens[0].Kid, StringComparison.Ordinal),
            TimeSpan.FromSeconds(15), "the revoked key out of the served JWKS", ct);
        foreach (var verifier in new[] { jose, pyjwt })
        {
            await Eventually.HoldsAsync(() => verifier.VerifyAsync(tokens[0].Token, ct), v => !v.Valid, cacheAge + TimeSpan.FromSeconds(3),
                $"{verifier.Library} refusing the revoked key's token", ct);
            foreach (var (signedBy, token) in tokens.Skip(1))
            {
                var verdict = await verifier.VerifyAsync(token, ct);
                Assert.True(verdict.Valid, $"{verifier.Library} refused a token of {signedBy} after another key's revocation: {verdict.Error}");
            }
        }
    }

    private static string Sign(KeyRotatorSigner signer) =>
        signer.CreateToken(ForeignLibraries.Issuer, ForeignLibraries.Audience, TimeSpan.FromMinutes(5), [new Claim("sub", "signed-by-keyrotator")]);

    /// <summary>A token from KeyRotatorSigner reading the signing Secret as a pod's volume has it.</summary>
    private async Task<string> SignAsKeyRotatorSignerAsync(string ns, string secret, CancellationToken ct)
    {
        await using var volume = VolumeMirror.ForSecret(env.Admin, ns, secret);
        await Eventually.HoldsAsync(() => Task.FromResult(volume.Updates), n => n >= 1, TimeSpan.FromSeconds(10), $"{secret} on the volume", ct);
        return Sign(new KeyRotatorSigner(volume.Directory));
    }

    /// <summary>KeyRotator.Client's validator, with the JWKS as a file, as a .NET service would run it.</summary>
    private static async Task<KeyRotatorValidationResult> ValidateWithKeyRotatorClientAsync(string token, string jwks)
    {
        var folder = Directory.CreateTempSubdirectory("interop-jwks-").FullName;
        try
        {
            var path = Path.Combine(folder, "jwks.json");
            await File.WriteAllTextAsync(path, jwks);
            using var source = new JwksFileSource(path);
            var options = new KeyRotatorValidationOptions { JwksPath = path };
            options.ValidIssuers.Add(ForeignLibraries.Issuer);
            options.ValidAudiences.Add(ForeignLibraries.Audience);
            return await new KeyRotatorTokenValidator(source, options).ValidateAsync(token);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>A fresh key of the algorithm's type that no JWKS publishes: what a forger holds.</summary>
    private static string UnpublishedKeyPem(string alg) => PrivateSigningKey.Generate(JwsAlgorithm.Parse(alg), 2048).ExportPkcs8Pem();
}
