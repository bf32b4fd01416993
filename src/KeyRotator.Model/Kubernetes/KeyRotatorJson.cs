using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using k8s;
using KeyRotator.Model.Resources;

namespace KeyRotator.Model.Kubernetes;

/// <summary>
/// The custom resources' JSON metadata, generated at compile time (no reflection, so the model serializes
/// under Native AOT and trimming). <see cref="UseInKubernetesJson"/> puts it in front of KubernetesClient's
/// reflection resolver, so that every <c>KubernetesJson</c> (de)serialization of a resource goes through it,
/// with KubernetesJson's options (camelCase, nulls left out, Kubernetes timestamps): the bytes on the wire
/// do not change. The options below apply only where the context is used directly: <c>SetClient</c>
/// compares two statuses with them, as it did with <see cref="JsonSerializerDefaults.Web"/> before.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
// KubernetesClient.Aot's own context has no JsonElement: without it an untyped (object) member that holds one,
// as a CRD's schema does (V1JSONSchemaProps.Items, Default, ...), cannot be written.
[JsonSerializable(typeof(JsonElement))]
[JsonSerializable(typeof(V1Alpha1SigningKeySet))]
[JsonSerializable(typeof(V1Alpha1SigningKeySetList))]
[JsonSerializable(typeof(SigningKeySetStatus))]
[JsonSerializable(typeof(V1Alpha1ClusterKeyVault))]
[JsonSerializable(typeof(V1Alpha1ClusterKeyVaultList))]
[JsonSerializable(typeof(V1Alpha1ClusterPublishTarget))]
[JsonSerializable(typeof(V1Alpha1ClusterPublishTargetList))]
public sealed partial class KeyRotatorJson : JsonSerializerContext
{
    private static readonly Lock Gate = new();
    private static bool _used;

    /// <summary>
    /// Adds this context to <c>KubernetesJson</c>'s resolvers, once. KubernetesJson's options freeze on their
    /// first use, so the composition root, the CLI and the test assemblies call this before anything else.
    /// Inserted ahead of a reflection-based resolver, not appended: KubernetesClient (the JIT package) ends its
    /// chain with one that answers for every type, so a context after it would never be asked.
    /// Called too late, the resources keep the reflection resolver and <see cref="UsedByKubernetesJson"/> says so.
    /// </summary>
    public static void UseInKubernetesJson()
    {
        lock (Gate)
        {
            if (_used)
                return;
            KubernetesJson.AddJsonOptions(options =>
            {
                if (options.IsReadOnly)
                    return;
                var chain = options.TypeInfoResolverChain;
                var at = 0;
                while (at < chain.Count && chain[at] is not DefaultJsonTypeInfoResolver)
                    at++;
                chain.Insert(at, Default);
                _used = true;
            });
        }
    }

    /// <summary>Whether <c>KubernetesJson</c> resolves the resources through this context.</summary>
    public static bool UsedByKubernetesJson
    {
        get
        {
            lock (Gate)
                return _used;
        }
    }
}
