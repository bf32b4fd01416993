using System.Net;
using System.Text.Json;
using k8s.Autorest;
using k8s.Models;
using KeyRotator.Core.Keys;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Publishing;
using KeyRotator.Operator.Runtime;
using Xunit;

namespace KeyRotator.Testing;

/// <summary>
/// What the operator relies on from <see cref="IObjectClient"/>, as one list of calls and expected answers,
/// run against the real ObjectClient on a real kube-apiserver (KeyRotator.Operator.Tests) and against
/// <see cref="InMemoryObjectClient"/> (KeyRotator.Reconciler.Tests): a fake is trusted only as far as the
/// same calls get the same answers from the API server (controller-runtime's fake against envtest).
/// An answer is compared by HTTP status and the Status reason, the parts the operator decides on.
/// </summary>
public abstract partial class ObjectClientContract
{
    protected const string Labelled = "contract";

    /// <summary>The client under contract; its cache, if any, is current until <see cref="CacheFallsBehindAsync"/>.</summary>
    protected abstract IObjectClient Client { get; }

    /// <summary>A namespace of the test's own that exists.</summary>
    protected abstract Task<string> NamespaceAsync();

    /// <summary>Deletes as someone else would (kubectl delete), finalizers honoured; a namespace stays Terminating.</summary>
    protected abstract Task DeleteAsSomeoneElseAsync<T>(string? ns, string name)
        where T : class, k8s.IKubernetesObject<V1ObjectMeta>;

    /// <summary>From now on the cache answers for the operator's ConfigMaps and Secrets in <paramref name="ns"/> with what they are now (a watch that has not delivered yet).</summary>
    protected abstract Task CacheFallsBehindAsync(string ns);

    private static CancellationToken None => CancellationToken.None;

    [Fact]
    public async Task Creating_a_taken_name_answers_409_AlreadyExists()
    {
        var ns = await NamespaceAsync();
        await Client.CreateAsync(ConfigMap(ns, "taken"), None);

        var refused = await Refused(() => Client.CreateAsync(ConfigMap(ns, "taken", "other"), None));

        Assert.Equal((HttpStatusCode.Conflict, "AlreadyExists"), refused);
        Assert.Equal("v", (await Client.ReadAsync<V1ConfigMap>(ns, "taken", None))!.Data["k"]);
    }

    [Fact]
    public async Task Replacing_at_a_stale_resourceVersion_answers_409_Conflict_and_changes_nothing()
    {
        var ns = await NamespaceAsync();
        var created = await Client.CreateAsync(ConfigMap(ns, "cm"), None);
        var first = Copy(created);
        first.Data["k"] = "first";
        await Client.ReplaceAsync(first, None);

        created.Data["k"] = "second";
        var refused = await Refused(() => Client.ReplaceAsync(created, None));

        Assert.Equal((HttpStatusCode.Conflict, "Conflict"), refused);
        Assert.Equal("first", (await Client.ReadAsync<V1ConfigMap>(ns, "cm", None))!.Data["k"]);
    }

    [Fact]
    public async Task A_replace_without_resourceVersion_is_unconditional_for_ConfigMaps_and_Secrets_but_refused_for_a_set()
    {
        var ns = await NamespaceAsync();
        var cm = await Client.CreateAsync(ConfigMap(ns, "cm"), None);
        var secret = await Client.CreateAsync(Secret(ns, "secret"), None);
        var set = await Client.CreateAsync(SigningKeySetBuilder.Named("auth", ns).Build(), None);

        cm.Metadata.ResourceVersion = null;
        cm.Data["k"] = "unconditional";
        await Client.ReplaceAsync(cm, None);
        secret.Metadata.ResourceVersion = null;
        secret.Data["k"] = "unconditional"u8.ToArray();
        await Client.ReplaceAsync(secret, None);
        set.Metadata.ResourceVersion = null;
        set.Spec = set.Spec with { Algorithm = "RS256" };
        var refused = await Refused(() => Client.ReplaceAsync(set, None));

        Assert.Equal("unconditional", (await Client.ReadAsync<V1ConfigMap>(ns, "cm", None))!.Data["k"]);
        Assert.Equal("unconditional"u8.ToArray(), (await Client.ReadAsync<V1Secret>(ns, "secret", None))!.Data["k"]);
        Assert.Equal((HttpStatusCode.UnprocessableEntity, "Invalid"), refused);
        Assert.Equal("ES256", (await Client.ReadAsync<V1Alpha1SigningKeySet>(ns, "auth", None))!.Spec.Algorithm);
    }

    [Fact]
    public async Task A_delete_whose_UID_precondition_does_not_match_answers_409_and_keeps_the_object()
    {
        var ns = await NamespaceAsync();
        var created = await Client.CreateAsync(ConfigMap(ns, "cm"), None);

        var refused = await Refused(() => Client.DeleteAsync<V1ConfigMap>(ns, "cm", Guid.NewGuid().ToString(), None));
        Assert.Equal((HttpStatusCode.Conflict, "Conflict"), refused);
        Assert.NotNull(await Client.ReadAsync<V1ConfigMap>(ns, "cm", None));

        await Client.DeleteAsync<V1ConfigMap>(ns, "cm", created.Metadata.Uid, None);
        Assert.Null(await Client.ReadAsync<V1ConfigMap>(ns, "cm", None));
    }

    [Fact]
    public async Task A_missing_object_reads_as_null_and_answers_404_to_a_replace_or_a_delete()
    {
        var ns = await NamespaceAsync();

        Assert.Null(await Client.GetAsync<V1ConfigMap>(ns, "missing", None));
        Assert.Null(await Client.ReadAsync<V1Secret>(ns, "missing", None));
        Assert.Null(await Client.GetAsync<V1Alpha1SigningKeySet>(ns, "missing", None));
        Assert.Equal((HttpStatusCode.NotFound, "NotFound"), await Refused(() => Client.ReplaceAsync(ConfigMap(ns, "missing"), None)));
        Assert.Equal((HttpStatusCode.NotFound, "NotFound"), await Refused(() => Client.ReplaceAsync(SigningKeySetBuilder.Named("missing", ns).Build(), None)));
        Assert.Equal((HttpStatusCode.NotFound, "NotFound"), await Refused(() => Client.DeleteAsync<V1Secret>(ns, "missing", Guid.NewGuid().ToString(), None)));
    }

    [Fact]
    public async Task The_status_subresource_keeps_status_out_of_a_replace_and_the_rest_out_of_a_status_replace()
    {
        var ns = await NamespaceAsync();
        var set = await Client.CreateAsync(SigningKeySetBuilder.Named("auth", ns).Build(), None);

        set.Status = new SigningKeySetStatus { ActiveKeyId = "from-a-replace" };
        set = await Client.ReplaceAsync(set, None);
        Assert.Null((await Client.ReadAsync<V1Alpha1SigningKeySet>(ns, "auth", None))!.Status?.ActiveKeyId);

        set.Status = new SigningKeySetStatus { ActiveKeyId = "from-the-status" };
        set.Spec = set.Spec with { Algorithm = "RS256" };
        await Client.ReplaceStatusAsync(set, None);
        var stored = (await Client.ReadAsync<V1Alpha1SigningKeySet>(ns, "auth", None))!;
        Assert.Equal("from-the-status", stored.Status?.ActiveKeyId);
        Assert.Equal("ES256", stored.Spec.Algorithm);
    }

    [Fact]
    public async Task A_sets_generation_moves_with_its_spec_only()
    {
        var ns = await NamespaceAsync();
        var set = await Client.CreateAsync(SigningKeySetBuilder.Named("auth", ns).Build(), None);
        Assert.Equal(1, set.Metadata.Generation);

        set.Metadata.Labels = new Dictionary<string, string> { ["team"] = "a" };
        set = await Client.ReplaceAsync(set, None);
        Assert.Equal(1, set.Metadata.Generation);
        set.Status = new SigningKeySetStatus { ActiveKeyId = "k" };
        set = await Client.ReplaceStatusAsync(set, None);
        Assert.Equal(1, set.Metadata.Generation);
        set.Spec = set.Spec with { Algorithm = "RS256" };
        set = await Client.ReplaceAsync(set, None);
        Assert.Equal(2, set.Metadata.Generation);
        Assert.Equal(2, (await Client.ReadAsync<V1Alpha1SigningKeySet>(ns, "auth", None))!.Metadata.Generation);
    }

    [Fact]
    public async Task A_delete_of_an_object_with_a_finalizer_marks_it_and_removing_the_last_finalizer_deletes_it()
    {
        var ns = await NamespaceAsync();
        var cm = ConfigMap(ns, "held");
        cm.Metadata.Finalizers = ["example.com/hold"];
        var created = await Client.CreateAsync(cm, None);

        await Client.DeleteAsync<V1ConfigMap>(ns, "held", created.Metadata.Uid, None);
        var deleting = (await Client.ReadAsync<V1ConfigMap>(ns, "held", None))!;
        Assert.NotNull(deleting.Metadata.DeletionTimestamp);

        deleting.Metadata.Finalizers = [];
        await Client.ReplaceAsync(deleting, None);
        Assert.Null(await Client.ReadAsync<V1ConfigMap>(ns, "held", None));

        // The operator's own finalizer on a set, the set deleted by its user.
        var set = SigningKeySetBuilder.Named("auth", ns).Build();
        set.Metadata.Finalizers = [Labels.Finalizer];
        await Client.CreateAsync(set, None);
        await DeleteAsSomeoneElseAsync<V1Alpha1SigningKeySet>(ns, "auth");
        var finalizing = (await Client.ReadAsync<V1Alpha1SigningKeySet>(ns, "auth", None))!;
        Assert.NotNull(finalizing.Metadata.DeletionTimestamp);
        finalizing.Metadata.Finalizers = [];
        await Client.ReplaceAsync(finalizing, None);
        Assert.Null(await Client.ReadAsync<V1Alpha1SigningKeySet>(ns, "auth", None));
    }

    [Fact]
    public async Task Nothing_is_created_in_a_missing_namespace_404_or_a_terminating_one_403()
    {
        var missing = "missing-" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal((HttpStatusCode.NotFound, "NotFound"), await Refused(() => Client.CreateAsync(ConfigMap(missing, "cm"), None)));

        var ns = await NamespaceAsync();
        await Client.CreateAsync(ConfigMap(ns, "before"), None);
        await DeleteAsSomeoneElseAsync<V1Namespace>(null, ns);

        Assert.NotNull((await Client.ReadAsync<V1Namespace>(null, ns, None))!.Metadata.DeletionTimestamp);
        Assert.Equal((HttpStatusCode.Forbidden, "Forbidden"), await Refused(() => Client.CreateAsync(ConfigMap(ns, "cm"), None)));
        Assert.Equal((HttpStatusCode.Forbidden, "Forbidden"), await Refused(() => Client.CreateAsync(Secret(ns, "secret"), None)));
        Assert.Equal((HttpStatusCode.Forbidden, "Forbidden"), await Refused(() => Client.CreateAsync(SigningKeySetBuilder.Named("auth", ns).Build(), None)));
    }

    [Fact]
    public async Task A_ConfigMap_or_Secret_over_1_MiB_is_refused_as_invalid()
    {
        var ns = await NamespaceAsync();
        var big = new string('x', InMemoryObjectClient.MaxDataBytes + 1);

        Assert.Equal((HttpStatusCode.UnprocessableEntity, "Invalid"), await Refused(() => Client.CreateAsync(ConfigMap(ns, "big", big), None)));
        var secret = Secret(ns, "big");
        secret.Data["k"] = new byte[InMemoryObjectClient.MaxDataBytes + 1];
        Assert.Equal((HttpStatusCode.UnprocessableEntity, "Invalid"), await Refused(() => Client.CreateAsync(secret, None)));
        var cm = await Client.CreateAsync(ConfigMap(ns, "grows"), None);
        cm.Data["k"] = big;
        Assert.Equal((HttpStatusCode.UnprocessableEntity, "Invalid"), await Refused(() => Client.ReplaceAsync(cm, None)));
    }

    [Fact]
    public async Task Lists_select_by_every_label_and_only_the_operators_label_is_answered_from_the_cache()
    {
        var ns = await NamespaceAsync();
        await Client.CreateAsync(ConfigMap(ns, "a", labels: new() { [Labels.ManagedBy] = Labels.ManagedByValue, ["role"] = Labelled }), None);
        await Client.CreateAsync(ConfigMap(ns, "b", labels: new() { [Labels.ManagedBy] = Labels.ManagedByValue }), None);
        await Client.CreateAsync(ConfigMap(ns, "c", labels: new() { ["role"] = Labelled }), None);
        await Client.CreateAsync(Secret(ns, "s", labels: new() { [Labels.ManagedBy] = Labels.ManagedByValue, ["role"] = Labelled }), None);

        Assert.Equal(["a"], Names(await Client.ListAsync<V1ConfigMap>([ns], new Dictionary<string, string> { [Labels.ManagedBy] = Labels.ManagedByValue, ["role"] = Labelled }, None)));
        Assert.Equal(["a", "b"], Names(await Client.ListAsync<V1ConfigMap>([ns], new Dictionary<string, string> { [Labels.ManagedBy] = Labels.ManagedByValue }, None)));
        // Without the operator's label the list goes to the API server, which holds everyone's objects.
        Assert.Equal(["a", "c"], Names(await Client.ListAsync<V1ConfigMap>([ns], new Dictionary<string, string> { ["role"] = Labelled }, None)));
        Assert.Equal(["s"], Names(await Client.ListAsync<V1Secret>([ns], new Dictionary<string, string> { ["role"] = Labelled }, None)));
    }

    [Fact]
    public async Task The_calls_the_object_client_does_not_make_are_refused_before_any_request()
    {
        var ns = await NamespaceAsync();
        var cm = await Client.CreateAsync(ConfigMap(ns, "cm"), None);

        await Assert.ThrowsAsync<NotSupportedException>(() => Client.ReplaceStatusAsync(cm, None));
        await Assert.ThrowsAsync<NotSupportedException>(() => Client.DeleteAsync<V1Alpha1SigningKeySet>(ns, "auth", Guid.NewGuid().ToString(), None));
        await Assert.ThrowsAsync<NotSupportedException>(() => Client.CreateAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = "ns-" + Guid.NewGuid().ToString("N")[..8] } }, None));
        await Assert.ThrowsAsync<NotSupportedException>(() => Client.ReplaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = ns } }, None));
        await Assert.ThrowsAsync<NotSupportedException>(() => Client.ReadAsync<Corev1Event>(ns, "e", None));
        await Assert.ThrowsAsync<NotSupportedException>(() => Client.ListAsync<V1Alpha1SigningKeySet>([ns], new Dictionary<string, string> { ["role"] = Labelled }, None));
        Assert.Equal((false, null), Client.Peek<V1Namespace>(null, ns));
    }

    [Fact]
    public async Task A_cache_that_is_behind_answers_with_the_old_object_the_replace_from_it_conflicts_and_the_writer_copes()
    {
        var ns = await NamespaceAsync();
        var set = await Client.CreateAsync(SigningKeySetBuilder.Named("auth", ns).Build(), None);
        var owner = SetIdentity.Of(set);
        var before = JwksPublisher.Desired(set, ns, new JwksDocument([]));
        await Client.CreateAsync(before, None);
        await CacheFallsBehindAsync(ns);

        // Someone (another replica, a hand edit) changes the copy; the cache has not seen it.
        var now = (await Client.ReadAsync<V1ConfigMap>(ns, before.Metadata.Name, None))!;
        now.Data[JwksPublisher.JwksKey] = "{\"keys\":[]} ";
        await Client.ReplaceAsync(now, None);
        var cached = (await Client.GetAsync<V1ConfigMap>(ns, before.Metadata.Name, None))!;
        Assert.NotEqual(now.Data[JwksPublisher.JwksKey], cached.Data[JwksPublisher.JwksKey]);
        cached.Data[JwksPublisher.JwksKey] = "{\"keys\":[]}  ";
        Assert.Equal((HttpStatusCode.Conflict, "Conflict"), await Refused(() => Client.ReplaceAsync(cached, None)));

        // The product's path: apply against the cache, meet the conflict, read, decide again.
        var desired = JwksPublisher.Desired(set, ns, new JwksDocument([JwkFor()]));
        Assert.Equal(ApplyResult.Written, await new ObjectWriter(Client).ApplyConfigMapAsync(desired, owner, None));
        Assert.Equal(desired.Data[JwksPublisher.JwksKey], (await Client.ReadAsync<V1ConfigMap>(ns, before.Metadata.Name, None))!.Data[JwksPublisher.JwksKey]);
    }
}
