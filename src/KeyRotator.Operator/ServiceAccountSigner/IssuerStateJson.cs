using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using KeyRotator.Model.Resources;

namespace KeyRotator.Operator.ServiceAccountSigner;

/// <summary>The state file's JSON, generated at build time (no reflection: the signer is meant to run Native AOT, issue #34).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(IssuerState))]
[JsonSerializable(typeof(SigningKeySetSpec))]
public sealed partial class IssuerStateJson : JsonSerializerContext
{
    // Reached through the base class's GetTypeInfo rather than the generated Default and properties: the
    // architecture tests read src/ with Roslyn and run no generators, so generated names are invisible there.
    private static readonly JsonSerializerContext Context = new IssuerStateJson();

    public static JsonTypeInfo<IssuerState> StateInfo { get; } = (JsonTypeInfo<IssuerState>)Context.GetTypeInfo(typeof(IssuerState))!;

    public static JsonTypeInfo<SigningKeySetSpec> SpecInfo { get; } = (JsonTypeInfo<SigningKeySetSpec>)Context.GetTypeInfo(typeof(SigningKeySetSpec))!;
}
