using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using k8s;
using k8s.Models;
using KeyRotator.Model.Resources;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Crd;

/// <summary>The C# model and the CRD's OpenAPI schema describe the same fields, with compatible types.</summary>
public sealed class CrdModelAgreementTests
{
    private static JsonObject Schema()
    {
        var yaml = File.ReadAllText(Path.Combine(KubernetesEnvironment.CrdDirectory, "keyrotator.io_signingkeysets.yaml"));
        var crd = TestYaml.Deserialize<V1CustomResourceDefinition>(yaml);
        var schema = crd.Spec.Versions.Single().Schema.OpenAPIV3Schema;
        return JsonNode.Parse(KubernetesJson.Serialize(schema))!.AsObject();
    }

    public static TheoryData<string, Type> Roots => new()
    {
        { "spec", typeof(SigningKeySetSpec) },
        { "status", typeof(SigningKeySetStatus) },
    };

    [Theory]
    [MemberData(nameof(Roots))]
    public void Every_property_in_the_model_exists_in_the_schema_and_back(string root, Type type)
    {
        var mismatches = new List<string>();
        Compare(root, Schema()["properties"]![root]!.AsObject(), type, mismatches);
        Assert.True(mismatches.Count == 0, "model and CRD disagree:\n" + string.Join('\n', mismatches));
    }

    /// <summary>Issue #32: every list and string a team writes into a spec has a maximum, and the operator holds the same one.</summary>
    [Fact]
    public void Every_list_and_string_in_the_spec_has_a_maximum_the_operator_enforces_too()
    {
        var unbounded = new List<string>();
        Bounds("spec", Schema()["properties"]!["spec"]!.AsObject(), unbounded);
        Assert.True(unbounded.Count == 0, "no maximum in the CRD schema:\n" + string.Join('\n', unbounded));

        var jwks = Schema()["properties"]!["spec"]!["properties"]!["jwks"]!["properties"]!.AsObject();
        var spec = Schema()["properties"]!["spec"]!["properties"]!.AsObject();
        Assert.Equal(KeyRotator.Core.Lifecycle.SpecBounds.MaxTargetNamespaces, jwks["targetNamespaces"]!["maxItems"]!.GetValue<int>());
        Assert.Equal(KeyRotator.Core.Lifecycle.SpecBounds.MaxRevokedKeyIds, spec["revokedKeyIds"]!["maxItems"]!.GetValue<int>());
        Assert.Equal(KeyRotator.Core.Lifecycle.SpecBounds.MaxPublishEntries, spec["publish"]!["maxItems"]!.GetValue<int>());
        Assert.Equal(KeyRotator.Core.Lifecycle.SpecBounds.MaxCronLength, spec["rotation"]!["properties"]!["cron"]!["maxLength"]!.GetValue<int>());
        Assert.Equal(KeyRotator.Core.Lifecycle.SpecBounds.MaxUrlLength, jwks["issuer"]!["maxLength"]!.GetValue<int>());
    }

    private static void Bounds(string path, JsonObject schema, List<string> unbounded)
    {
        switch (schema["type"]?.GetValue<string>())
        {
            case "string" when schema["maxLength"] is null && schema["enum"] is null:
                unbounded.Add($"{path}: a string without maxLength or enum");
                break;
            case "array":
                if (schema["maxItems"] is null)
                    unbounded.Add($"{path}: a list without maxItems");
                Bounds($"{path}[]", schema["items"]!.AsObject(), unbounded);
                break;
            case "object":
                foreach (var (name, property) in schema["properties"]?.AsObject() ?? [])
                    Bounds($"{path}.{name}", property!.AsObject(), unbounded);
                break;
        }
    }

    private static void Compare(string path, JsonObject schema, Type type, List<string> mismatches)
    {
        var schemaProperties = schema["properties"]?.AsObject() ?? [];
        var modelProperties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .ToDictionary(JsonName, p => p);

        foreach (var name in modelProperties.Keys.Except(schemaProperties.Select(p => p.Key)))
            mismatches.Add($"{path}.{name} is in {type.Name} but not in the CRD schema");
        foreach (var name in schemaProperties.Select(p => p.Key).Except(modelProperties.Keys))
            mismatches.Add($"{path}.{name} is in the CRD schema but not in {type.Name}");

        foreach (var (name, property) in modelProperties)
        {
            if (schemaProperties[name] is not JsonObject propertySchema)
                continue;
            CompareType($"{path}.{name}", propertySchema, property.PropertyType, mismatches);
        }
    }

    private static void CompareType(string path, JsonObject schema, Type type, List<string> mismatches)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        var schemaType = schema["type"]?.GetValue<string>();
        var element = type != typeof(string) ? type.GetInterfaces().Append(type)
            .FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))?.GetGenericArguments()[0] : null;

        var expected = type switch
        {
            _ when type == typeof(string) || type == typeof(DateTimeOffset) => "string",
            _ when type == typeof(int) || type == typeof(long) => "integer",
            _ when type == typeof(double) => "number",
            _ when type == typeof(bool) => "boolean",
            _ when element is not null => "array",
            _ => "object",
        };
        if (schemaType != expected)
        {
            mismatches.Add($"{path}: the CRD says {schemaType}, the model's {type.Name} is {expected}");
            return;
        }

        if (type == typeof(DateTimeOffset) && schema["format"]?.GetValue<string>() != "date-time")
            mismatches.Add($"{path}: a timestamp in the model, but the CRD lacks format: date-time");
        if (expected == "array")
            CompareType($"{path}[]", schema["items"]!.AsObject(), element!, mismatches);
        else if (expected == "object")
            Compare(path, schema, type, mismatches);
    }

    private static string JsonName(PropertyInfo property) =>
        property.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? JsonNamingPolicy.CamelCase.ConvertName(property.Name);
}
