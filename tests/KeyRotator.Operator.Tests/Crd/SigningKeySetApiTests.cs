using System.Net;
using k8s.Autorest;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Crd;

/// <summary>The CRD as the API server serves it: defaults, the status subresource, the C# model.</summary>
public sealed class SigningKeySetApiTests(KubernetesEnvironment env)
{
    private readonly SigningKeySetClient _sets = new(env.Admin);

    [Fact]
    public async Task Created_set_reads_back_through_the_model_with_defaults_applied()
    {
        var ns = await env.CreateNamespaceAsync("crd-defaults", TestContext.Current.CancellationToken);
        var created = await _sets.CreateAsync(SigningKeySetBuilder.Named("auth-tokens", ns).Build(), TestContext.Current.CancellationToken);

        var read = await _sets.GetAsync(ns, "auth-tokens", TestContext.Current.CancellationToken);

        Assert.Equal(created.Metadata.Uid, read.Metadata.Uid);
        Assert.Equal("ES256", read.Spec.Algorithm);
        Assert.Equal("720h", read.Spec.Rotation.Interval);
        Assert.Equal("15m", read.Spec.Rotation.PrePublish);
        Assert.Equal("2h", read.Spec.Rotation.Overlap);
        Assert.Equal("15m", read.Spec.MaxTokenLifetime);
        Assert.Equal("1m", read.Spec.ClockSkew);
        Assert.Equal("Kubernetes", read.Spec.Vault?.Provider);
        Assert.Equal("Retain", read.Spec.DeletionPolicy);
        Assert.Null(read.Status);
    }

    [Fact]
    public async Task Status_updates_leave_spec_untouched_and_spec_updates_leave_status_untouched()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("crd-status", ct);
        var set = await _sets.CreateAsync(SigningKeySetBuilder.Named("auth-tokens", ns).Build(), ct);
        var now = DateTimeOffset.Parse("2026-11-28T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture);

        // A status write that also tries to change the spec: only the status lands.
        set.Status = new SigningKeySetStatus
        {
            ObservedGeneration = set.Metadata.Generation,
            ActiveKeyId = "kid-active",
            Keys = [new KeyStatus { Kid = "kid-active", State = "Active", Generation = 1, CreatedAt = now, ActivatedAt = now }],
            Conditions = [new Condition { Type = "Ready", Status = "True", Reason = "KeysPublished", Message = "ok", LastTransitionTime = now }],
        };
        set.Spec = set.Spec with { Algorithm = "ES384" };
        var afterStatus = await _sets.ReplaceStatusAsync(set, ct);

        Assert.Equal("ES256", afterStatus.Spec.Algorithm);
        Assert.Equal("kid-active", afterStatus.Status?.ActiveKeyId);
        Assert.Equal(now, afterStatus.Status?.Keys?.Single().ActivatedAt);
        Assert.Equal("True", afterStatus.Status?.Conditions?.Single().Status);

        // A spec write that also tries to change the status: only the spec lands.
        afterStatus.Spec = afterStatus.Spec with { Algorithm = "ES512" };
        afterStatus.Status = afterStatus.Status! with { ActiveKeyId = "kid-forged" };
        var afterSpec = await _sets.ReplaceAsync(afterStatus, ct);

        var read = await _sets.GetAsync(ns, "auth-tokens", ct);
        Assert.Equal("ES512", read.Spec.Algorithm);
        Assert.Equal("kid-active", read.Status?.ActiveKeyId);
        Assert.True(afterSpec.Metadata.Generation > set.Metadata.Generation, "a spec change bumps metadata.generation");
        Assert.Equal(afterStatus.Metadata.Generation, afterStatus.Status!.ObservedGeneration);
    }

    [Fact]
    public async Task Status_write_with_a_stale_resource_version_conflicts()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("crd-conflict", ct);
        var set = await _sets.CreateAsync(SigningKeySetBuilder.Named("auth-tokens", ns).Build(), ct);
        set.Status = new SigningKeySetStatus { ActiveKeyId = "first" };
        await _sets.ReplaceStatusAsync(set, ct);

        set.Status = new SigningKeySetStatus { ActiveKeyId = "second" };
        var error = await Assert.ThrowsAsync<HttpOperationException>(() => _sets.ReplaceStatusAsync(set, ct));

        Assert.Equal(HttpStatusCode.Conflict, error.Response.StatusCode);
    }

    [Fact]
    public async Task An_update_that_loses_a_race_reads_again_and_keeps_both_writers_changes()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("crd-update-race", ct);
        await _sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns).Build(), ct);
        var theirs = new string('a', 43);
        var ours = new string('b', 43);

        // Another writer revokes a kid between this client's read and its write: the write answers 409.
        using var racing = new k8s.Kubernetes(env.AdminConfig, new BeforeFirstPut(async () =>
        {
            var set = await _sets.GetAsync(ns, "auth", ct);
            set.Spec = set.Spec with { RevokedKeyIds = [theirs] };
            await _sets.ReplaceAsync(set, ct);
        }));
        var changes = 0;
        var updated = await new SigningKeySetClient(racing).UpdateAsync(ns, "auth", set =>
        {
            changes++;
            set.Spec = set.Spec with { RevokedKeyIds = [.. set.Spec.RevokedKeyIds ?? [], ours] };
            return true;
        }, ct);

        Assert.Equal(2, changes);
        Assert.Equal([theirs, ours], updated.Spec.RevokedKeyIds);
        Assert.Equal([theirs, ours], (await _sets.GetAsync(ns, "auth", ct)).Spec.RevokedKeyIds);

        // A change that finds nothing to do writes nothing.
        var unchanged = await _sets.UpdateAsync(ns, "auth", _ => false, ct);
        Assert.Equal(updated.Metadata.ResourceVersion, unchanged.Metadata.ResourceVersion);
    }

    /// <summary>Runs <paramref name="interleave"/> once, just before the first PUT goes out.</summary>
    private sealed class BeforeFirstPut(Func<Task> interleave) : DelegatingHandler
    {
        private int _done;

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Method == HttpMethod.Put && Interlocked.Exchange(ref _done, 1) == 0)
                await interleave();
            return await base.SendAsync(request, cancellationToken);
        }
    }
}
