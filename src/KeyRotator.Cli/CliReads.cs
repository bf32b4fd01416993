using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Exceptions;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;

namespace KeyRotator.Cli;

/// <summary>How the CLI reaches the cluster, and what the commands read (a set, its JWKS, a JWKS file), with the errors it prints when that is not there.</summary>
internal static class CliReads
{
    /// <summary>A client for the kubeconfig given (or KUBECONFIG, ~/.kube/config, in-cluster), and its context's namespace.</summary>
    public static (k8s.Kubernetes Client, string? ContextNamespace) Connect(string? kubeconfig, string? context)
    {
        KeyRotatorJson.UseInKubernetesJson();
        var path = kubeconfig ?? Environment.GetEnvironmentVariable("KUBECONFIG")?.Split(':')[0];
        if (path is null)
        {
            var home = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".kube", "config");
            if (File.Exists(home))
                path = home;
            else if (KubernetesClientConfiguration.IsInCluster())
                return (new k8s.Kubernetes(KubernetesClientConfiguration.InClusterConfig()), null);
        }

        if (path is null || !File.Exists(path))
            throw new KubeConfigException($"no kubeconfig found{(path is null ? "" : $" at {path}")}: pass --kubeconfig PATH or set KUBECONFIG");
        try
        {
            var config = KubernetesClientConfiguration.BuildConfigFromConfigFile(path, context);
            return (new k8s.Kubernetes(config), config.Namespace);
        }
        catch (Exception e) when (e is not KubeConfigException && (e is NullReferenceException or ArgumentException or InvalidOperationException or FormatException or IOException || e.GetType().Namespace?.StartsWith("YamlDotNet", StringComparison.Ordinal) == true))
        {
            throw new KubeConfigException($"the kubeconfig {path ?? "(default)"} is empty or not a kubeconfig ({e.GetType().Name}); pass --kubeconfig PATH to a valid one, or set KUBECONFIG");
        }
    }

    public static async Task<string> ReadJwksAsync(k8s.Kubernetes client, V1Alpha1SigningKeySet set)
    {
        try
        {
            var cm = await client.CoreV1.ReadNamespacedConfigMapAsync(JwksNames.ConfigMapName(set), set.Metadata.NamespaceProperty);
            return cm.Data?.TryGetValue(JwksNames.JwksKey, out var json) == true ? json : throw new NotFoundException($"ConfigMap {JwksNames.ConfigMapName(set)} has no {JwksNames.JwksKey}");
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            throw new NotFoundException($"the JWKS of {set.Metadata.NamespaceProperty}/{set.Metadata.Name} is not published yet (ConfigMap {JwksNames.ConfigMapName(set)})");
        }
    }

    public static async Task<V1Alpha1SigningKeySet> GetSetAsync(SigningKeySetClient sets, string ns, string name)
    {
        try
        {
            return await sets.GetAsync(ns, name);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            throw new NotFoundException($"there is no SigningKeySet {name} in namespace {ns}");
        }
    }

    /// <summary>UpdateAsync (which reads the set first), with the same not-found error as <see cref="GetSetAsync"/>.</summary>
    public static async Task UpdateSetAsync(SigningKeySetClient sets, string ns, string name, Func<V1Alpha1SigningKeySet, bool> change)
    {
        try
        {
            await sets.UpdateAsync(ns, name, change);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            throw new NotFoundException($"there is no SigningKeySet {name} in namespace {ns}");
        }
    }

    /// <summary>A JWKS file for inspect, or a usage error that says what is wrong with it.</summary>
    public static async Task<JwksDocument> ReadJwksFileAsync(string file)
    {
        string text;
        try
        {
            text = await File.ReadAllTextAsync(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot read the JWKS file {file}: {e.Message}");
        }

        try
        {
            return JwksDocument.Parse(text);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or FormatException or InvalidOperationException or KeyNotFoundException or ArgumentException)
        {
            throw new UsageException($"{file} is not a usable JWKS ({e.Message}); every key needs kty, kid and alg. Save a set's JWKS with `keyrotator jwks NAME -n NAMESPACE > jwks.json`");
        }
    }
}

/// <summary>What the command was asked about does not exist: exit code 3 (see <see cref="ExitCodes"/>).</summary>
internal sealed class NotFoundException(string message) : Exception(message);

/// <summary>The input is wrong in a way the parser cannot see (an unreadable JWKS file): exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
