using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.AspNetCore.Http;

namespace KeyRotator.Operator.Serving;

/// <summary>
/// The authorization middleware's answer to a refused report or scrape: the reason (403), 404 for a set
/// the operator does not hold, or 503 with Retry-After when the permission could not be checked; a
/// caller that is not authenticated is challenged by its scheme (the framework's default).
/// </summary>
public sealed class RefusalAnswers : IAuthorizationMiddlewareResultHandler
{
    private readonly AuthorizationMiddlewareResultHandler _default = new();

    public Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        if (authorizeResult.Forbidden && authorizeResult.AuthorizationFailure?.FailureReasons.FirstOrDefault() is { } reason)
        {
            return reason switch
            {
                ReviewUnavailableReason => ErrorAnswer.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, $"{reason.Message}; try again later", 5),
                NoSuchSetReason => ErrorAnswer.WriteAsync(context, StatusCodes.Status404NotFound, reason.Message),
                _ => ErrorAnswer.WriteAsync(context, StatusCodes.Status403Forbidden, reason.Message),
            };
        }

        return _default.HandleAsync(next, context, policy, authorizeResult);
    }
}
