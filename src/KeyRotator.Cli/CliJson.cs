using System.Text.Json;
using System.Text.Json.Serialization;

namespace KeyRotator.Cli;

/// <summary>
/// What `-o json` prints, generated at compile time (no reflection, so the CLI runs under Native AOT and
/// trimming): the web defaults the CLI has always written with (camelCase, nulls written, the default
/// escaping), indented.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true)]
[JsonSerializable(typeof(List<StatusRow>))]
[JsonSerializable(typeof(RotateAnswer))]
[JsonSerializable(typeof(RevokeAnswer))]
[JsonSerializable(typeof(TokenInspector.Report))]
internal sealed partial class CliJson : JsonSerializerContext;
