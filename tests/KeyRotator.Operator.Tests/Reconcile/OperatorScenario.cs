using System.Text;
using k8s;
using k8s.Models;
using KeyRotator.Core.Jose;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Operator.Entities;
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
}
