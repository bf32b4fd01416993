using System.Text.Json;
using System.Text.Json.Serialization;

namespace KeyRotator.Operator.Serving;

/// <summary>
/// The HTTP room's JSON bodies, generated at compile time, with ASP.NET Core's web defaults (camelCase,
/// case-insensitive reading): a failure report, the answer to it, a refusal. <see cref="HttpEdge"/> also
/// puts it in front of the framework's own resolver.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(SignatureFailureEndpoint.Report))]
[JsonSerializable(typeof(ReportAccepted))]
[JsonSerializable(typeof(ErrorBody))]
internal sealed partial class ServingJson : JsonSerializerContext;
