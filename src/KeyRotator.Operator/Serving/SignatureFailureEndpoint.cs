using System.Text.Json;
using KeyRotator.Operator.Configuration;
using KeyRotator.Operator.Observability;
using KeyRotator.Operator.Runtime;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.Serving;

/// <summary>
/// POST /v1/namespaces/{ns}/signingkeysets/{name}/signaturefailures: verifiers report rejected tokens and
/// send heartbeats. The framework's pieces guard it before it runs (see <see cref="HttpEdge"/>): the
/// <see cref="ReportAuth.Policy"/> policy authenticates the caller with the <see cref="ReportAuth.Scheme"/>
/// scheme (401, or 503 when the token cannot be checked now) and checks its permission on the set (403,
/// 404 for a set the operator does not hold), then the rate limiter limits it per caller (429). This endpoint bounds the body (413), validates the report (400) and records it.
/// </summary>
public sealed class SignatureFailureEndpoint(
    SignatureFailureTracker tracker, PropagationTracker propagation, PeerForwarder peers, OperatorMetrics metrics, ISigningKeySets controller, IOptions<OperatorOptions> options)
{
    private static readonly HashSet<string> Reasons = ["unknown_kid", "bad_signature", "alg_rejected", "expired", "not_yet_valid", "audience", "issuer", "lifetime", "malformed"];
    private readonly ReportOptions _options = options.Value.Reports;

    public async Task<IResult> HandleAsync(HttpContext context, string ns, string name)
    {
        var cancellationToken = context.RequestAborted;
        var forwarded = CallerPrincipal.IsForwarded(context.User);
        var caller = context.User.Identity!.Name!;
        if (forwarded && caller.Length > 512)
            return Error(StatusCodes.Status400BadRequest, $"the {PeerForwarder.CallerHeader} header is too long");

        var body = await ReadBodyAsync(context, cancellationToken);
        if (body is null)
            return Error(StatusCodes.Status413PayloadTooLarge, $"the report is larger than {_options.MaxBodyBytes} bytes; send smaller batches");
        Report? report;
        try
        {
            report = JsonSerializer.Deserialize(body, ServingJson.Default.Report);
        }
        catch (JsonException)
        {
            return Error(StatusCodes.Status400BadRequest, "the body is not JSON of the form {\"failures\":[{\"reason\":\"bad_signature\",\"kid\":\"…\",\"count\":3}]}");
        }

        var problem = Validate(report);
        if (problem is not null)
            return Error(StatusCodes.Status400BadRequest, problem);
        if (controller.CachedSet(ns, name) is not { } set)
            return Error(StatusCodes.Status404NotFound, $"there is no SigningKeySet {ns}/{name}");

        foreach (var failure in report!.Failures!)
        {
            // The tracker keeps the endpoint's own copy of the reason, not one string per report.
            Reasons.TryGetValue(failure.Reason!, out var reason);
            tracker.Record(ns, name, set.Spec.SignatureFailureAlert, reason!, failure.Kid, failure.Count);
            // Counted by the replica that received it only, so that a sum over replicas counts each failure once.
            if (!forwarded)
                metrics.SignatureFailures.WithLabels(ns, name, reason!).Inc(failure.Count);
        }

        // The caller, as the API server vouched for it, plus its instance (pods of one service share a service
        // account): the pod its token is bound to; only a token bound to no pod may name one itself
        // (PropagationTracker bounds how many one caller may hold). A replica passes on the instance it settled.
        var instance = forwarded
            ? context.Request.Headers[PeerForwarder.InstanceHeader].ToString() is { Length: > 0 and <= 253 } passed ? passed : report.Instance
            : CallerPrincipal.PodOf(CallerPrincipal.UserOf(context.User)) ?? report.Instance;
        var identity = $"{caller}/{instance ?? "-"}";
        var news = report.JwksHash is { } held && propagation.ObserveVerifier(ns, name, identity, held);
        news |= report.SigningKid is { } signing && propagation.ObserveSigner(ns, name, identity, signing);

        // A heartbeat that says nothing new costs no reconcile.
        if (news || report.Failures!.Any(f => f.Count > 0))
            controller.Enqueue(new SetKey(ns, name));
        if (!forwarded)
            peers.Forward(context.Request.Path, caller, instance, body);
        return Results.Json(new ReportAccepted(report.Failures!.Sum(f => f.Count)), ServingJson.Answers.ReportAccepted, statusCode: StatusCodes.Status202Accepted);
    }

    private string? Validate(Report? report)
    {
        if (report?.Failures is null)
            return "the body needs a \"failures\" array";
        if (report.Failures.Count > _options.MaxEntries)
            return $"at most {_options.MaxEntries} entries per report";
        foreach (var failure in report.Failures)
        {
            if (failure.Reason is null || !Reasons.Contains(failure.Reason))
                return $"unknown reason \"{failure.Reason}\"; use one of {string.Join(", ", Reasons)}";
            if (failure.Count is < 0 or > 1_000_000)
                return "each count must be between 0 and 1000000";
            if (failure.Kid is { Length: > 128 })
                return "kid is too long";
        }

        if (report.Instance is { Length: > 253 })
            return "instance is too long (at most 253 characters, a pod name)";
        if (report.JwksHash is { } hash && (hash.Length is 0 or > 64 || !hash.All(char.IsAsciiHexDigitLower)))
            return "jwksHash must be the JWKS content hash, lower-case hex (the keyrotator.io/content-hash annotation of the ConfigMap)";
        if (report.SigningKid is { Length: 0 or > 128 })
            return "signingKid must be a kid of at most 128 characters";
        return null;
    }

    /// <summary>
    /// The body, or null when it is larger than Reports:MaxBodyBytes. Read here rather than bounded by
    /// Kestrel's per-request limit: past that limit Kestrel stops reading and closes the connection, so a
    /// reporter still sending a chunked body (JsonContent is chunked) sees a reset instead of this 413;
    /// answered here, Kestrel drains the rest and the reporter reads why.
    /// </summary>
    private async Task<byte[]?> ReadBodyAsync(HttpContext context, CancellationToken cancellationToken)
    {
        if (context.Request.ContentLength > _options.MaxBodyBytes)
            return null;
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await context.Request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > _options.MaxBodyBytes)
                return null;
        }

        return buffer.ToArray();
    }

    private static IResult Error(int status, string message) => ErrorAnswer.Result(status, message);

    /// <summary>
    /// A report: failure counts since the last one (may be empty), and, as a heartbeat, who the caller
    /// is (instance, usually the pod name) and what it holds (a verifier's JWKS content hash, a signer's kid).
    /// </summary>
    internal sealed record Report(List<Entry>? Failures, string? Instance = null, string? JwksHash = null, string? SigningKid = null);

    internal sealed record Entry(string? Reason, string? Kid, long Count);
}
