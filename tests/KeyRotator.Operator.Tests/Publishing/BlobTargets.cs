using System.Text;
using Azure.Storage.Blobs;
using k8s;
using k8s.Models;
using KeyRotator.Model.Resources;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Publishing;

/// <summary>What a platform team sets up for blob publication: a container, its connection string in a Secret, a ClusterPublishTarget granting a namespace.</summary>
internal static class BlobTargets
{
    /// <summary>The public URL the tests' targets are read at (the tests read the container itself and map it).</summary>
    public const string PublicUrl = "https://issuer.example.test";

    /// <summary>
    /// A new publicly readable container on <paramref name="server"/> and a target named "{ns}-{name}" granted to
    /// <paramref name="grantedTo"/>, read at <see cref="PublicUrl"/>; one namespace granted gets the folder
    /// "team/" (a fixed prefix is allowed for a single namespace), several the default "{namespace}/".
    /// </summary>
    public static async Task<(BlobContainerClient Container, string Target)> CreateAsync(KubernetesEnvironment env, string ns, AzuriteServer server, string grantedTo, CancellationToken ct, string name = "storage", IList<string>? alsoGrantedTo = null)
    {
        var container = new BlobContainerClient(server.ConnectionString, "c" + Guid.NewGuid().ToString("N")[..20]);
        await container.CreateAsync(Azure.Storage.Blobs.Models.PublicAccessType.Blob, cancellationToken: ct);
        await env.Admin.CoreV1.CreateNamespacedSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns },
            Data = new Dictionary<string, byte[]> { ["connection-string"] = Encoding.UTF8.GetBytes(server.ConnectionString) },
        }, ns, cancellationToken: ct);
        var target = $"{ns}-{name}";
        await env.Admin.CustomObjects.CreateClusterCustomObjectAsync(new V1Alpha1ClusterPublishTarget
        {
            Metadata = new V1ObjectMeta { Name = target },
            Spec = new ClusterPublishTargetSpec
            {
                AzureBlob = new AzureBlobTarget
                {
                    Endpoint = server.Endpoint,
                    Container = container.Name,
                    ConnectionStringSecretRef = new NamespacedSecretKeySelector { Namespace = ns, Name = name, Key = "connection-string" },
                },
                Namespaces = [grantedTo, .. alsoGrantedTo ?? []],
                PathPrefix = alsoGrantedTo is { Count: > 0 } ? null : "team/",
                PublicUrl = PublicUrl,
            },
        }, V1Alpha1SigningKeySet.Group, V1Alpha1SigningKeySet.Version, V1Alpha1ClusterPublishTarget.Plural, cancellationToken: ct);
        return (container, target);
    }
}
