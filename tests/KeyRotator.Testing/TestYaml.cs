using System.Globalization;
using System.Text.Json.Nodes;
using k8s;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace KeyRotator.Testing;

/// <summary>
/// Reads a YAML file the repository ships (CRDs, ClusterRoles, samples, a rendered chart) into a Kubernetes
/// model the way kubectl and the API server read it: YAML to JSON (an unquoted true, false, null or number
/// is that JSON value, anything else a string), then <see cref="KubernetesJson"/>. Ours because
/// KubernetesClient.Aot keeps its YAML reader internal.
/// </summary>
public static class TestYaml
{
    /// <summary>The first YAML document of <paramref name="yaml"/> as a <typeparamref name="T"/>.</summary>
    public static T Deserialize<T>(string yaml) => KubernetesJson.Deserialize<T>(ToJson(yaml));

    /// <summary>The first YAML document of <paramref name="yaml"/> as JSON text.</summary>
    public static string ToJson(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return Json(stream.Documents[0].RootNode)?.ToJsonString() ?? "null";
    }

    private static JsonNode? Json(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(c => KeyValuePair.Create(((YamlScalarNode)c.Key).Value ?? "", Json(c.Value)))),
        YamlSequenceNode list => new JsonArray([.. list.Children.Select(Json)]),
        YamlScalarNode { Style: ScalarStyle.Plain } plain => Plain(plain.Value ?? ""),
        YamlScalarNode quoted => JsonValue.Create(quoted.Value ?? ""),
        _ => throw new InvalidOperationException($"YAML node {node.NodeType} at {node.Start} is not supported"),
    };

    private static JsonValue? Plain(string value) => value switch
    {
        "" or "~" or "null" or "Null" or "NULL" => null,
        "true" or "True" or "TRUE" => JsonValue.Create(true),
        "false" or "False" or "FALSE" => JsonValue.Create(false),
        _ when long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer) => JsonValue.Create(integer),
        _ when value.Any(char.IsDigit) && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) => JsonValue.Create(number),
        _ => JsonValue.Create(value),
    };
}
