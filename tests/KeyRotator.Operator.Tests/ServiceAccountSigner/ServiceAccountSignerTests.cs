using Grpc.Core;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.ServiceAccountSigner;

/// <summary>
/// The signer mode against a real API server and a real operator: a test client plays kube-apiserver
/// (<see cref="ApiServerStandIn"/>) and checks what the API server checks, across a rotation and a revocation.
/// </summary>
public sealed class ServiceAccountSignerTests(KubernetesEnvironment env)
{
    private const string Issuer = "https://kubernetes.default.svc";
    private const string Audience = "https://kubernetes.default.svc";

    private static SigningKeySetBuilder IssuerSet(string ns, string algorithm = "ES256", int? rsaKeySize = null) =>
        SigningKeySetBuilder.Named("cluster-issuer", ns)
            .WithAlgorithm(algorithm, rsaKeySize)
            .WithRotation(r => r with { Interval = "1h", PrePublish = "3s", Overlap = "20m" })
            .WithSpec(s => s with { MaxTokenLifetime = "10m", ServiceAccountIssuer = true });

    [Theory]
    [InlineData("ES256", null)]
    [InlineData("RS256", 2048)]
    public async Task Tokens_verify_against_FetchKeys_across_a_rotation_and_a_revoked_kid_leaves_within_5s(string algorithm, int? rsaKeySize)
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("sa-signer", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        await scenario.Sets.CreateAsync(IssuerSet(ns, algorithm, rsaKeySize).Build(), ct);
        var first = await scenario.WaitForActiveKeyAsync("cluster-issuer");
        await using var signer = await SignerInstance.StartAsync(env, $"{ns}/cluster-issuer");
        using var apiServer = ApiServerStandIn.Dial(signer.Socket);

        var maxSeconds = await Eventually.HoldsAsync(() => MetadataOrZeroAsync(apiServer, ct), s => s > 0, TimeSpan.FromSeconds(20), "Metadata answered", ct);
        Assert.Equal(600, maxSeconds);
        var keys = await apiServer.FetchKeysAsync(ct);
        Assert.Contains(keys.Keys, k => k.KeyId == first.Status!.ActiveKeyId);
        Assert.InRange(keys.RefreshHintSeconds, 1, 3);

        // The API server's side of a rotation: fetch keys, sign, verify each token against the answer held before it.
        var firstSeen = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        var firstSigned = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        async Task<string> IssueAndVerifyAsync()
        {
            await apiServer.FetchKeysAsync(ct);
            var held = apiServer.LastKeys;
            var now = DateTimeOffset.UtcNow;
            foreach (var kid in held.Keys)
                firstSeen.TryAdd(kid, now);
            var (token, kid2) = await apiServer.IssueAsync(ApiServerStandIn.Claims(Issuer, Audience, TimeSpan.FromMinutes(10), now), ct);
            firstSigned.TryAdd(kid2, DateTimeOffset.UtcNow);
            var result = await ApiServerStandIn.VerifyAsync(token, held, Issuer, Audience);
            Assert.True(result.IsValid, $"token signed with {kid2} did not verify against the FetchKeys answer held before it: {result.Exception?.Message}");
            return kid2;
        }

        Assert.Equal(first.Status!.ActiveKeyId, await IssueAndVerifyAsync());
        await scenario.EditAsync("cluster-issuer", s =>
        {
            s.Metadata.Annotations ??= new Dictionary<string, string>();
            s.Metadata.Annotations[KeyRotator.Model.Kubernetes.Labels.RotateNowAnnotation] = Guid.NewGuid().ToString("N");
        }, ct);
        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        string signedWith;
        do
        {
            signedWith = await IssueAndVerifyAsync();
            await Task.Delay(TimeSpan.FromMilliseconds(100), ct);
        }
        while (signedWith == first.Status.ActiveKeyId && DateTimeOffset.UtcNow < deadline);
        Assert.NotEqual(first.Status.ActiveKeyId, signedWith);
        // Published (3 s prePublish) before it signed: the API server knew the key before any token carried it.
        Assert.True(firstSigned[signedWith] - firstSeen[signedWith] >= TimeSpan.FromSeconds(2), $"{signedWith} was in FetchKeys {(firstSigned[signedWith] - firstSeen[signedWith]).TotalSeconds:F1}s before its first signature");
        Assert.Contains(first.Status.ActiveKeyId!, apiServer.LastKeys.Keys);

        // Revoking the retiring key: out of FetchKeys within 5 s, and the signer never signs with it.
        var revokedAt = DateTimeOffset.UtcNow;
        await scenario.EditAsync("cluster-issuer", s => s.Spec = s.Spec with { RevokedKeyIds = [first.Status.ActiveKeyId!] }, ct);
        await Eventually.HoldsAsync(() => apiServer.FetchKeysAsync(ct), k => k.Keys.All(x => x.KeyId != first.Status.ActiveKeyId), TimeSpan.FromSeconds(5), "the revoked kid out of FetchKeys", ct);
        Assert.True(DateTimeOffset.UtcNow - revokedAt < TimeSpan.FromSeconds(5));
        Assert.Equal(signedWith, await IssueAndVerifyAsync());
    }

    [Fact]
    public async Task A_set_not_marked_as_the_issuer_is_refused_and_the_signer_says_why()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("sa-unmarked", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        await scenario.Sets.CreateAsync(IssuerSet(ns).WithSpec(s => s with { ServiceAccountIssuer = null }).Build(), ct);
        await scenario.WaitForActiveKeyAsync("cluster-issuer");
        await using var signer = await SignerInstance.StartAsync(env, $"{ns}/cluster-issuer");
        using var apiServer = ApiServerStandIn.Dial(signer.Socket);

        var refusal = await Eventually.HoldsAsync(() => RefusalAsync(apiServer, ct), r => r?.StatusCode == StatusCode.FailedPrecondition, TimeSpan.FromSeconds(20), "Metadata refused", ct);
        Assert.Contains("spec.serviceAccountIssuer: true", refusal!.Status.Detail, StringComparison.Ordinal);
        var sign = await Assert.ThrowsAsync<RpcException>(() => apiServer.IssueAsync(ApiServerStandIn.Claims(Issuer, Audience, TimeSpan.FromMinutes(10), DateTimeOffset.UtcNow), ct));
        Assert.Equal(StatusCode.FailedPrecondition, sign.StatusCode);
    }

    [Theory]
    [InlineData("PS256", "10m", "spec.serviceAccountIssuer: spec.algorithm PS256 is not accepted by the Kubernetes API server")]
    [InlineData("ES256", "5m", "spec.serviceAccountIssuer: spec.maxTokenLifetime 5m is below the 10m")]
    public async Task An_issuer_set_the_API_server_could_not_use_is_held_InvalidSpec_naming_the_rule(string algorithm, string lifetime, string expected)
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("sa-invalid", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        await scenario.Sets.CreateAsync(IssuerSet(ns, algorithm, algorithm.StartsWith("PS", StringComparison.Ordinal) ? 2048 : null).WithSpec(s => s with { MaxTokenLifetime = lifetime }).Build(), ct);

        var held = await scenario.WaitForReadyReasonAsync("cluster-issuer", Reasons.InvalidSpec, ct);
        Assert.Contains(expected, ConditionSet.Find(held.Status!.Conditions, ConditionSet.Ready)!.Message, StringComparison.Ordinal);
        Assert.Null(held.Status.ActiveKeyId);
    }

    private static async Task<long> MetadataOrZeroAsync(ApiServerStandIn apiServer, CancellationToken ct)
    {
        try
        {
            return await apiServer.MetadataAsync(ct);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
        {
            return 0;
        }
    }

    private static async Task<RpcException?> RefusalAsync(ApiServerStandIn apiServer, CancellationToken ct)
    {
        try
        {
            await apiServer.MetadataAsync(ct);
            return null;
        }
        catch (RpcException e)
        {
            return e;
        }
    }
}
