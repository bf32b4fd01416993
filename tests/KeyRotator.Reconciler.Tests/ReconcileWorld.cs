using System.Text;
using k8s;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Controllers;
using KeyRotator.Operator.Hosting;
using KeyRotator.Operator.Publishing;
using KeyRotator.Operator.Runtime;
using KeyRotator.Operator.Vault;
using KeyRotator.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace KeyRotator.Reconciler.Tests;

/// <summary>
/// The operator as it is built for production (every service, the real reconciler, the real Kubernetes
/// key store), with the object client replaced by <see cref="InMemoryObjectClient"/> and time by a
/// <see cref="FakeTimeProvider"/>: a reconcile runs in milliseconds, and a test says "given this world,
/// expect these writes, in this order". The controller's part (a reconcile that throws is reported on
/// the set) is done by <see cref="ReconcileAsync"/> as the controller does it.
/// </summary>
internal sealed class ReconcileWorld : IAsyncDisposable
{
    public const string Ns = "team";
    public const string Name = "auth";

    private readonly WebApplication _app;

    public ReconcileWorld(params string[] settings)
        : this(new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 9, 0, 0, TimeSpan.Zero)), settings)
    {
    }

    /// <summary>A world on a clock of the test's own (the walk's, which can step back).</summary>
    public ReconcileWorld(FakeTimeProvider time, params string[] settings)
    {
        Time = time;
        Api.Time = Time;
        // The set's namespace exists (the API server refuses objects in a missing one).
        Api.Seed(new V1Namespace { Metadata = new V1ObjectMeta { Name = Ns } });
        _app = OperatorApp.Build(["--urls", "http://127.0.0.1:0", .. settings], services =>
        {
            // Nothing may reach a real API server: every object goes through the in-memory client.
            services.AddSingleton<IKubernetes>(new k8s.Kubernetes(new KubernetesClientConfiguration { Host = "https://127.0.0.1:1" }));
            services.AddSingleton<IObjectClient>(Api);
            services.AddSingleton<TimeProvider>(Time);
        });
    }

    public InMemoryObjectClient Api { get; } = new();

    public FakeTimeProvider Time { get; }

    public SigningKeySetReconciler Reconciler => _app.Services.GetRequiredService<SigningKeySetReconciler>();

    public T Service<T>()
        where T : notnull => _app.Services.GetRequiredService<T>();

    /// <summary>The set as a user applies it (in namespace <see cref="Ns"/>, named <see cref="Name"/> unless it says otherwise).</summary>
    public V1Alpha1SigningKeySet Apply(SigningKeySetBuilder set) => Api.Seed(set.Build());

    public static SigningKeySetBuilder ASet(string name = Name) => SigningKeySetBuilder.Named(name, Ns);

    /// <summary>One reconcile, as the controller runs it: a throw is reported on the set and rethrown.</summary>
    public async Task<ReconcileResult> ReconcileAsync(string name = Name)
    {
        try
        {
            return await Reconciler.ReconcileAsync(Ns, name, CancellationToken.None);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await Reconciler.ReportFailureAsync(Ns, name, e, CancellationToken.None);
            throw;
        }
    }

    /// <summary>Reconciles until the set's first key signs: it is published first, and signs once spec.rotation.prePublish has passed.</summary>
    public async Task<string> ConvergeAsync(string name = Name)
    {
        await ReconcileAsync(name);
        var next = Set(name).Status?.Keys?.FirstOrDefault(k => k.Kid == Set(name).Status!.NextKeyId);
        if (next?.ActivatesAt is { } activatesAt && activatesAt > Time.GetUtcNow())
            Time.SetUtcNow(activatesAt);
        await ReconcileAsync(name);
        return Set(name).Status?.ActiveKeyId ?? throw new InvalidOperationException("no key signs after two reconciles: " + string.Join("; ", Set(name).Status?.Conditions?.Select(c => $"{c.Type}={c.Status} {c.Reason}: {c.Message}") ?? []));
    }

    /// <summary>Reconciles once, then returns the writes it made (and forgets them, for the next step).</summary>
    public async Task<IReadOnlyList<string>> WritesOfOneReconcileAsync(string name = Name)
    {
        Api.ClearWrites();
        await ReconcileAsync(name);
        return [.. Api.Writes.Select(w => w.ToString())];
    }

    public V1Alpha1SigningKeySet Set(string name = Name) => Api.Stored<V1Alpha1SigningKeySet>(Ns, name)!;

    public Condition? Condition(string type, string name = Name) => ConditionSet.Find(Set(name).Status?.Conditions, type);

    /// <summary>The kids in the JWKS ConfigMap of the set in <paramref name="ns"/> (null: no ConfigMap).</summary>
    public IReadOnlyList<string>? JwksKids(string ns = Ns, string name = Name)
    {
        var cm = Api.Stored<V1ConfigMap>(ns, $"{name}-jwks");
        return cm?.Data is { } data && data.TryGetValue(JwksPublisher.JwksKey, out var json) ? [.. JwksDocument.Parse(json).Keys.Select(k => k.Kid)] : null;
    }

    /// <summary>What signers read: the signing Secret's kid and next-kid.</summary>
    public (string? Kid, string? NextKid) Signing(string name = Name)
    {
        var data = Api.Stored<V1Secret>(Ns, $"{name}-signing")?.Data;
        return (Field(data, SigningSecretPublisher.KidKey), Field(data, SigningSecretPublisher.NextKidKey));
    }

    /// <summary>The kids the key store Secret holds.</summary>
    public IReadOnlyList<string> StoredKids(string name = Name) =>
        Api.Stored<V1Secret>(Ns, KubernetesKeyStore.SecretName(name)) is { } secret ? [.. KeyStoreEntry.ReadAll(secret).Select(e => e.Kid)] : [];

    /// <summary>Asserts that an Event of this type and reason ("Warning NameConflict") was recorded.</summary>
    public void AssertEvent(string typeAndReason) =>
        Xunit.Assert.True(EventReasons.Contains(typeAndReason), $"expected a {typeAndReason} Event; the Events were: {string.Join(", ", EventReasons)}");

    public IReadOnlyList<string> EventReasons => [.. Api.Events.Select(e => $"{e.Type} {e.Reason}")];

    private static string? Field(IDictionary<string, byte[]>? data, string key) =>
        data is not null && data.TryGetValue(key, out var value) ? Encoding.UTF8.GetString(value) : null;

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
