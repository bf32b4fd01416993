using System.Collections;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using k8s;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;

namespace KeyRotator.Core.Tests.Kubernetes;

/// <summary>
/// The custom resources go through the generated <see cref="KeyRotatorJson"/> context, and what reaches the
/// API server (and comes back) is byte for byte what the reflection serializer made of them before.
/// </summary>
public sealed class KeyRotatorJsonTests
{
    public static TheoryData<Type> Resources =>
    [
        typeof(V1Alpha1SigningKeySet), typeof(V1Alpha1SigningKeySetList),
        typeof(V1Alpha1ClusterKeyVault), typeof(V1Alpha1ClusterKeyVaultList),
        typeof(V1Alpha1ClusterPublishTarget), typeof(V1Alpha1ClusterPublishTargetList),
    ];

    [Theory]
    [MemberData(nameof(Resources))]
    public void A_fully_populated_resource_is_written_and_read_through_the_context_as_the_reflection_serializer_did(Type type)
    {
        var kubernetes = KubernetesOptions();
        Assert.True(KeyRotatorJson.UsedByKubernetesJson, "KubernetesJson was used before KeyRotatorJson.UseInKubernetesJson()");
        Assert.Same(KeyRotatorJson.Default, kubernetes.GetTypeInfo(type).OriginatingResolver);
        var reflection = new JsonSerializerOptions(kubernetes) { TypeInfoResolver = new DefaultJsonTypeInfoResolver() };
        var resource = Populated.Of(type);

        var json = KubernetesJson.Serialize(resource);

        Assert.Equal(JsonSerializer.Serialize(resource, type, reflection), json);
        Assert.Equal(json, KubernetesJson.Serialize(JsonSerializer.Deserialize(json, kubernetes.GetTypeInfo(type))!));
        Assert.Equal(json, KubernetesJson.Serialize(JsonSerializer.Deserialize(json, type, reflection)!));
    }

    [Fact]
    public void Every_member_of_a_set_reaches_the_json_with_its_camelCase_name()
    {
        var json = KubernetesJson.Serialize(Populated.Of(typeof(V1Alpha1SigningKeySet)));

        // The filler left nothing out: a status member of each nesting level, timestamps as the API server writes them.
        Assert.Contains("\"status\":{\"observedGeneration\":", json, StringComparison.Ordinal);
        Assert.Contains("\"propagation\":{", json, StringComparison.Ordinal);
        Assert.Contains("\"lastTransitionTime\":\"2026-03-01T", json, StringComparison.Ordinal);
        Assert.Matches("\"rolledBackAt\":\"2026-03-01T\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z\"", json);
        Assert.DoesNotContain(":null", json, StringComparison.Ordinal);
    }

    private static JsonSerializerOptions KubernetesOptions()
    {
        JsonSerializerOptions? options = null;
        KubernetesJson.AddJsonOptions(o => options = o);
        return options!;
    }

    /// <summary>An instance with every settable member set, to a value that differs from every other.</summary>
    private static class Populated
    {
        private static readonly DateTimeOffset Start = new(2026, 3, 1, 10, 0, 0, TimeSpan.Zero);

        public static object Of(Type type)
        {
            var counter = 0;
            return Value(type, "root", ref counter, depth: 0)!;
        }

        private static object? Value(Type type, string path, ref int counter, int depth)
        {
            counter++;
            type = Nullable.GetUnderlyingType(type) ?? type;
            if (type == typeof(string))
                return $"{path}-{counter}";
            if (type == typeof(bool))
                return true;
            if (type == typeof(int))
                return counter;
            if (type == typeof(long))
                return (long)counter;
            if (type == typeof(double))
                return counter + 0.5;
            if (type == typeof(DateTimeOffset))
                return Start.AddSeconds(counter).AddTicks(1234567);
            if (type == typeof(DateTime))
                return Start.UtcDateTime.AddSeconds(counter);
            if (type == typeof(TimeSpan))
                return TimeSpan.FromSeconds(counter);
            if (type.IsEnum)
                return Enum.GetValues(type).GetValue(Enum.GetValues(type).Length - 1);
            if (type == typeof(object) || depth > 6)
                return null;
            if (Dictionary(type) is { } valueType)
            {
                var dictionary = (IDictionary)Activator.CreateInstance(typeof(Dictionary<,>).MakeGenericType(typeof(string), valueType))!;
                dictionary[$"{path}-key"] = Value(valueType, path + ".value", ref counter, depth + 1);
                return dictionary;
            }

            if (Element(type) is { } elementType)
            {
                var list = (IList)Activator.CreateInstance(typeof(List<>).MakeGenericType(elementType))!;
                list.Add(Value(elementType, path + "[0]", ref counter, depth + 1));
                return type.IsArray ? ToArray(list, elementType) : list;
            }

            var instance = Activator.CreateInstance(type)!;
            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                if (property.SetMethod is null || property.GetIndexParameters().Length > 0 || property.IsDefined(typeof(JsonIgnoreAttribute)))
                    continue;
                property.SetValue(instance, Value(property.PropertyType, $"{path}.{property.Name}", ref counter, depth + 1));
            }

            return instance;
        }

        private static Type? Dictionary(Type type) =>
            type.IsGenericType && type.GetGenericArguments() is [var key, var value] && key == typeof(string)
                && typeof(IEnumerable<>).MakeGenericType(typeof(KeyValuePair<,>).MakeGenericType(key, value)).IsAssignableFrom(type)
                ? value
                : null;

        private static Type? Element(Type type) =>
            type.IsArray ? type.GetElementType()
            : type.IsGenericType && type.GetGenericArguments() is [var element] && typeof(IEnumerable<>).MakeGenericType(element).IsAssignableFrom(type) ? element
            : null;

        private static Array ToArray(IList list, Type elementType)
        {
            var array = Array.CreateInstance(elementType, list.Count);
            list.CopyTo(array, 0);
            return array;
        }
    }
}
