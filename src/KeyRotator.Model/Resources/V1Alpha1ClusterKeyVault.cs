using System.Text.Json.Serialization;
using k8s;
using k8s.Models;
using KeyRotator.Model.Resources;

namespace KeyRotator.Model.Resources;

/// <summary>The ClusterKeyVault resource (keyrotator.io/v1alpha1, cluster-scoped): a vault the platform team grants to namespaces.</summary>
public sealed class V1Alpha1ClusterKeyVault : IKubernetesObject<V1ObjectMeta>, ISpec<ClusterKeyVaultSpec>
{
    public const string Plural = "clusterkeyvaults";
    public const string KindName = "ClusterKeyVault";

    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = V1Alpha1SigningKeySet.GroupVersion;

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = KindName;

    [JsonPropertyName("metadata")]
    public V1ObjectMeta Metadata { get; set; } = new();

    [JsonPropertyName("spec")]
    public ClusterKeyVaultSpec Spec { get; set; } = new();
}
