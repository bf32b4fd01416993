using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace KeyRotator.Operator.Serving;

/// <summary>
/// The HTTP room's JSON bodies, generated at compile time, with the web defaults (camelCase,
/// case-insensitive reading): a failure report, the answer to it, a refusal. <see cref="HttpEdge"/> also
/// puts it in front of the framework's own resolver.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(SignatureFailureEndpoint.Report))]
[JsonSerializable(typeof(ReportAccepted))]
[JsonSerializable(typeof(ErrorBody))]
internal sealed partial class ServingJson : JsonSerializerContext
{
    /// <summary>
    /// For answers: the options ASP.NET Core's own JSON results write with (its JsonOptions), the web defaults
    /// with relaxed escaping (a body is not embedded in HTML), so that "caller's" is not "caller\u0027s".
    /// </summary>
    public static ServingJson Answers { get; } = new(new JsonSerializerOptions(JsonSerializerDefaults.Web) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
}
