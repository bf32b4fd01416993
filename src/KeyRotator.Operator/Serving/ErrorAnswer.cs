using System.Globalization;
using Microsoft.AspNetCore.Http;

namespace KeyRotator.Operator.Serving;

/// <summary>
/// The HTTP room's refusals: <c>{"error": "…"}</c> as the framework's JSON result, with Retry-After
/// when the caller should come back. The endpoint returns it; the schemes, the policy's result handler
/// and the rate limiter, which answer before any endpoint runs, execute it.
/// </summary>
public static class ErrorAnswer
{
    public static IResult Result(int status, string message) => Results.Json(new ErrorBody(message), ServingJson.Answers.ErrorBody, statusCode: status);

    public static Task WriteAsync(HttpContext context, int status, string message, int? retryAfterSeconds = null)
    {
        if (retryAfterSeconds is { } seconds)
            context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        return Result(status, message).ExecuteAsync(context);
    }
}
