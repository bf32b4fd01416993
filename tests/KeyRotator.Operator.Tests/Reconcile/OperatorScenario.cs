using System.Text;
using k8s;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Publishing;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Reconcile;

/// <summary>What a user observes of a set: its status, its JWKS ConfigMap, its signing Secret, its Events.</summary>
internal sealed class OperatorScenario(KubernetesEnvironment env, string ns)
{
    public SigningKeySetClient Sets { get; } = new(env.Admin);

    public string Namespace => ns;

    public Task<V1Alpha1SigningKeySet> GetAsync(string name) => Sets.GetAsync(ns, name);

    public async Task<V1Alpha1SigningKeySet> WaitForActiveKeyAsync(string name, TimeSpan? timeout = null) =>
        await Eventually.HoldsAsync(() => GetAsync(name), s => s.Status?.ActiveKeyId is not null && ConditionSet.IsTrue(s.Status.Conditions, ConditionSet.Ready),
            timeout ?? TimeSpan.FromSeconds(30), $"{ns}/{name} having an active key");

    /// <summary>The set with Ready=False for <paramref name="reason"/> (InvalidSpec, NameConflict).</summary>
    public async Task<V1Alpha1SigningKeySet> WaitForReadyReasonAsync(string name, string reason, CancellationToken cancellationToken = default) =>
        await Eventually.HoldsAsync(() => GetAsync(name),
            s => ConditionSet.Find(s.Status?.Conditions, ConditionSet.Ready) is { Status: "False" } ready && ready.Reason == reason,
            TimeSpan.FromSeconds(15), $"{name} Ready=False {reason}", cancellationToken);

    /// <summary>Waits until the set has been deleted (its finalizer done).</summary>
    public Task WaitUntilGoneAsync(string name, TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        Eventually.HoldsAsync(() => ExistsAsync(() => GetAsync(name)), exists => !exists, timeout ?? TimeSpan.FromSeconds(15), $"{ns}/{name} gone", cancellationToken);

    /// <summary>
    /// Edits the set as it is now: reads it, applies <paramref name="edit"/>, writes it, and reads again if
    /// the write raced the operator's own status updates (409), as a user's client should.
    /// </summary>
    public Task<V1Alpha1SigningKeySet> EditAsync(string name, Action<V1Alpha1SigningKeySet> edit, CancellationToken cancellationToken = default) =>
        Sets.UpdateAsync(ns, name, set =>
        {
            edit(set);
            return true;
        }, cancellationToken);

    /// <summary>Asks for a rotation (keyrotator.io/rotate-now) and waits for another key than <paramref name="activeKid"/> to sign.</summary>
    public async Task<V1Alpha1SigningKeySet> RotateNowAsync(string name, string activeKid, CancellationToken cancellationToken = default)
    {
        await EditAsync(name, set =>
        {
            set.Metadata.Annotations ??= new Dictionary<string, string>();
            set.Metadata.Annotations[Labels.RotateNowAnnotation] = Guid.NewGuid().ToString("N");
        }, cancellationToken);
        return await Eventually.HoldsAsync(() => GetAsync(name), s => s.Status?.ActiveKeyId is { } kid && kid != activeKid, TimeSpan.FromSeconds(15), "the next key active", cancellationToken);
    }

    /// <summary>False when reading the object answers 404.</summary>
    public static async Task<bool> ExistsAsync<T>(Func<Task<T>> read)
    {
        try
        {
            await read();
            return true;
        }
        catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    public async Task<JwksDocument?> JwksAsync(string configMap, string? inNamespace = null) =>
        await JwksJsonAsync(configMap, inNamespace) is { } json ? JwksDocument.Parse(json) : null;

    /// <summary>The JWKS exactly as a pod mounting the ConfigMap reads it.</summary>
    public async Task<string?> JwksJsonAsync(string configMap, string? inNamespace = null)
    {
        try
        {
            var cm = await env.Admin.CoreV1.ReadNamespacedConfigMapAsync(configMap, inNamespace ?? ns);
            return cm.Data?.TryGetValue(JwksPublisher.JwksKey, out var json) == true ? json : null;
        }
        catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public async Task<(string? Kid, string? Pem, string? Alg)> SigningAsync(string secretName)
    {
        k8s.Models.V1Secret secret;
        try
        {
            secret = await env.Admin.CoreV1.ReadNamespacedSecretAsync(secretName, ns);
        }
        catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return (null, null, null);
        }

        string? Get(string key) => secret.Data?.TryGetValue(key, out var v) == true ? Encoding.UTF8.GetString(v) : null;
        return (Get(SigningSecretPublisher.KidKey), Get(SigningSecretPublisher.PrivateKeyKey), Get(SigningSecretPublisher.AlgKey));
    }

    public async Task<IList<Corev1Event>> EventsAsync(string name) =>
        (await env.Admin.CoreV1.ListNamespacedEventAsync(ns)).Items.Where(e => e.InvolvedObject.Name == name).ToList();

    /// <summary>
    /// The set's Events once one with <paramref name="reason"/> is there: the operator records Events
    /// after it writes status, so a test that has just seen the status must wait for the Event.
    /// </summary>
    public Task<IList<Corev1Event>> WaitForEventAsync(string name, string reason, CancellationToken cancellationToken = default) =>
        Eventually.HoldsAsync(() => EventsAsync(name), e => e.Any(x => x.Reason == reason), TimeSpan.FromSeconds(10), $"a {reason} Event", cancellationToken);
}
