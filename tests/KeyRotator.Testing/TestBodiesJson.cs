using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using k8s;

namespace KeyRotator.Testing;

/// <summary>
/// Untyped bodies the tests send through KubernetesClient (a sample as plain dictionaries, a set edited as a
/// JSON object, to reach fields the typed model would drop or refuse). KubernetesClient.Aot resolves only the
/// types of a generated context, so the test assemblies add this one after the operator's
/// (<see cref="Register"/>); the operator itself never sends an untyped body.
/// </summary>
[JsonSerializable(typeof(JsonNode))]
[JsonSerializable(typeof(JsonObject))]
[JsonSerializable(typeof(JsonArray))]
[JsonSerializable(typeof(Dictionary<string, object>))]
[JsonSerializable(typeof(List<object>))]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(long))]
[JsonSerializable(typeof(int))]
[JsonSerializable(typeof(double))]
[JsonSerializable(typeof(bool))]
public sealed partial class TestBodiesJson : JsonSerializerContext
{
    /// <summary>Appends this context to KubernetesJson's resolvers (before KubernetesJson's first use).</summary>
    public static void Register() => KubernetesJson.AddJsonOptions(options =>
    {
        if (!options.IsReadOnly && !options.TypeInfoResolverChain.Contains(Default))
            options.TypeInfoResolverChain.Add(Default);
    });
}
