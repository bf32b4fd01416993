using System.Text.Json.Serialization;
using k8s;
using k8s.Models;
using KeyRotator.Model.Resources;

namespace KeyRotator.Model.Resources;

/// <summary>The SigningKeySet custom resource (keyrotator.io/v1alpha1).</summary>
public sealed class V1Alpha1SigningKeySet : IKubernetesObject<V1ObjectMeta>, ISpec<SigningKeySetSpec>, IStatus<SigningKeySetStatus?>
{
    public const string Group = "keyrotator.io";
    public const string Version = "v1alpha1";
    public const string Plural = "signingkeysets";
    public const string KindName = "SigningKeySet";
    public const string GroupVersion = Group + "/" + Version;

    /// <summary>What objects the set owns (JWKS, signing Secret, key Secret) point back with.</summary>
    public static V1OwnerReference OwnerReference(string name, string uid) => new()
    {
        ApiVersion = GroupVersion,
        Kind = KindName,
        Name = name,
        Uid = uid,
        Controller = true,
    };

    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = GroupVersion;

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = KindName;

    [JsonPropertyName("metadata")]
    public V1ObjectMeta Metadata { get; set; } = new();

    [JsonPropertyName("spec")]
    public SigningKeySetSpec Spec { get; set; } = new();

    [JsonPropertyName("status")]
    public SigningKeySetStatus? Status { get; set; }
}
