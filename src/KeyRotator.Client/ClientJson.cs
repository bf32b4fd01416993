using System.Text.Json;
using System.Text.Json.Serialization;

namespace KeyRotator.Client;

/// <summary>
/// The failure report's JSON, generated at compile time (no reflection, so services that reference this
/// library can publish with Native AOT and trimming): the web defaults <c>JsonContent.Create</c> wrote it
/// with before (camelCase, nulls written, the default escaping).
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(FailureReport))]
internal sealed partial class ClientJson : JsonSerializerContext;
