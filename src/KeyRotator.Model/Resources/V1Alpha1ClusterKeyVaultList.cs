using System.Text.Json.Serialization;
using k8s;
using k8s.Models;

namespace KeyRotator.Model.Resources;

public sealed class V1Alpha1ClusterKeyVaultList : IKubernetesObject<V1ListMeta>, IItems<V1Alpha1ClusterKeyVault>
{
    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = V1Alpha1SigningKeySet.GroupVersion;

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = V1Alpha1ClusterKeyVault.KindName + "List";

    [JsonPropertyName("metadata")]
    public V1ListMeta Metadata { get; set; } = new();

    [JsonPropertyName("items")]
    public IList<V1Alpha1ClusterKeyVault> Items { get; set; } = [];
}
