using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace KeyRotator.Operator.Serving;

/// <summary>The caller may "create signingkeysets/signaturefailures" on the set named in the route.</summary>
public sealed class MayReportRequirement : IAuthorizationRequirement;

/// <summary>
/// Checks <see cref="MayReportRequirement"/> with a SubjectAccessReview (cached by <see cref="CallerAuthenticator"/>).
/// A report another replica passed on was authorized there. A report for a set the operator does not
/// hold is refused before it costs a review (<see cref="NoSuchSetReason"/>, 404). A review the API server
/// does not answer fails with <see cref="ReviewUnavailableReason"/> (503), a refusal with the reason (403).
/// </summary>
public sealed class MayReportHandler(CallerAuthenticator callers, KeyRotator.Operator.Runtime.ISigningKeySets sets) : AuthorizationHandler<MayReportRequirement, HttpContext>
{
    protected override async Task HandleRequirementAsync(AuthorizationHandlerContext context, MayReportRequirement requirement, HttpContext http)
    {
        if (context.User.Identity?.IsAuthenticated != true)
            return;
        if (ReportAuth.IsForwarded(context.User))
        {
            context.Succeed(requirement);
            return;
        }

        var (ns, name) = (http.GetRouteValue("ns") as string ?? "", http.GetRouteValue("name") as string ?? "");
        if (sets.CachedSet(ns, name) is null)
        {
            // Made-up set names would each cost a SubjectAccessReview (a decision is cached per set).
            context.Fail(new NoSuchSetReason(this, $"there is no SigningKeySet {ns}/{name}"));
            return;
        }

        var user = ReportAuth.UserOf(context.User);
        var (allowed, unavailable) = await callers.AuthorizeAsync(user, ns, name, http.RequestAborted);
        if (allowed == true)
            context.Succeed(requirement);
        else if (allowed is null)
            context.Fail(new ReviewUnavailableReason(this, unavailable!));
        else
            context.Fail(new AuthorizationFailureReason(this, $"{user.Username} may not create signingkeysets/signaturefailures for {ns}/{name}"));
    }
}

/// <summary>The report names a set the operator does not hold: 404, decided before any review.</summary>
public sealed class NoSuchSetReason(IAuthorizationHandler handler, string message) : AuthorizationFailureReason(handler, message);

/// <summary>The permission could not be checked now (the SubjectAccessReview failed or timed out): 503 with Retry-After.</summary>
public sealed class ReviewUnavailableReason(IAuthorizationHandler handler, string message) : AuthorizationFailureReason(handler, message);

/// <summary>Answers a refused report or scrape with the reason (403), or 503 when the permission could not be checked; challenges go to the scheme.</summary>
public sealed class ReportAuthorizationResultHandler : IAuthorizationMiddlewareResultHandler
{
    private readonly AuthorizationMiddlewareResultHandler _default = new();

    public Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        if (authorizeResult.Forbidden && authorizeResult.AuthorizationFailure?.FailureReasons.FirstOrDefault() is { } reason)
        {
            return reason switch
            {
                ReviewUnavailableReason => ReportErrors.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, $"{reason.Message}; try again later", 5),
                NoSuchSetReason => ReportErrors.WriteAsync(context, StatusCodes.Status404NotFound, reason.Message),
                _ => ReportErrors.WriteAsync(context, StatusCodes.Status403Forbidden, reason.Message),
            };
        }

        return _default.HandleAsync(next, context, policy, authorizeResult);
    }
}
