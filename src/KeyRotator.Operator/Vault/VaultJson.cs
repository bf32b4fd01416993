using System.Text.Json;
using System.Text.Json.Serialization;

namespace KeyRotator.Operator.Vault;

/// <summary>
/// The vault room's JSON, generated at compile time: the key-store Secret's entries, with the web
/// defaults they have always been written with (camelCase, nulls written).
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(KeyStoreEntry))]
internal sealed partial class VaultJson : JsonSerializerContext;
