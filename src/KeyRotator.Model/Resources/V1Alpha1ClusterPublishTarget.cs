using System.Text.Json.Serialization;
using k8s;
using k8s.Models;

namespace KeyRotator.Model.Resources;

/// <summary>
/// The ClusterPublishTarget resource (keyrotator.io/v1alpha1, cluster-scoped): a place outside the
/// cluster where relying parties read an issuer's documents (an Azure Blob Storage container), with the
/// credentials to write it, granted by the platform team to namespaces. A SigningKeySet names one in
/// spec.publish; it never carries credentials itself.
/// </summary>
public sealed class V1Alpha1ClusterPublishTarget : IKubernetesObject<V1ObjectMeta>, ISpec<ClusterPublishTargetSpec>
{
    public const string Plural = "clusterpublishtargets";
    public const string KindName = "ClusterPublishTarget";

    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = V1Alpha1SigningKeySet.GroupVersion;

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = KindName;

    [JsonPropertyName("metadata")]
    public V1ObjectMeta Metadata { get; set; } = new();

    [JsonPropertyName("spec")]
    public ClusterPublishTargetSpec Spec { get; set; } = new();
}

public sealed class V1Alpha1ClusterPublishTargetList : IKubernetesObject<V1ListMeta>, IItems<V1Alpha1ClusterPublishTarget>
{
    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = V1Alpha1SigningKeySet.GroupVersion;

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = V1Alpha1ClusterPublishTarget.KindName + "List";

    [JsonPropertyName("metadata")]
    public V1ListMeta Metadata { get; set; } = new();

    [JsonPropertyName("items")]
    public IList<V1Alpha1ClusterPublishTarget> Items { get; set; } = [];
}

/// <summary>Exactly one destination (Azure Blob Storage for now), and the namespaces whose sets may publish there.</summary>
public sealed record ClusterPublishTargetSpec
{
    public AzureBlobTarget? AzureBlob { get; init; }

    /// <summary>Namespaces whose SigningKeySets may publish to the target; "*" for all.</summary>
    public IList<string> Namespaces { get; init; } = [];

    /// <summary>
    /// The path prefix each granted namespace may publish under, where "{namespace}" stands for the set's
    /// namespace; "{namespace}/" when unset. A prefix without "{namespace}" (a shared folder) is accepted only
    /// for a target granted to exactly one namespace.
    /// </summary>
    public string? PathPrefix { get; init; }

    /// <summary>
    /// The URL relying parties read the container at (a custom domain or a CDN in front of it); the blob
    /// endpoint and container when unset. A set's issuer and jwks_uri must lie under it plus the set's path prefix.
    /// </summary>
    public string? PublicUrl { get; init; }

    /// <summary>
    /// How much later than the blob relying parties may see a change because of what the platform runs in
    /// front of the container (a CDN's TTL or purge time, a proxy cache), as a Go duration; none when unset.
    /// A set publishing here must pre-publish for at least this plus its documents' max-age.
    /// </summary>
    public string? CacheAllowance { get; init; }
}

/// <summary>An Azure Blob Storage container the operator writes documents into.</summary>
public sealed record AzureBlobTarget
{
    /// <summary>The account's blob endpoint: https://&lt;account&gt;.blob.core.windows.net (Azurite: http://127.0.0.1:10000/devstoreaccount1).</summary>
    public string Endpoint { get; init; } = "";

    /// <summary>The container (it must exist; the operator does not create or configure containers).</summary>
    public string Container { get; init; } = "";

    /// <summary>
    /// The Secret holding a storage connection string (for Azurite and for accounts that use keys);
    /// without it the operator authenticates with its Azure identity (workload identity, DefaultAzureCredential).
    /// </summary>
    public NamespacedSecretKeySelector? ConnectionStringSecretRef { get; init; }
}

/// <summary>A key of a Secret in a named namespace (a cluster-scoped resource has no namespace of its own).</summary>
public sealed record NamespacedSecretKeySelector
{
    public string Namespace { get; init; } = "";

    public string Name { get; init; } = "";

    public string Key { get; init; } = "";
}
