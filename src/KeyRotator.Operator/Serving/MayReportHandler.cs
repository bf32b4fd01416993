using KeyRotator.Operator.Runtime;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace KeyRotator.Operator.Serving;

/// <summary>
/// Checks <see cref="MayReportRequirement"/> with a SubjectAccessReview (cached by <see cref="CallerAuthenticator"/>),
/// for the set named in the request's route (a report, or a JWKS fetch counted as a verifier's heartbeat).
/// A report another replica passed on was authorized there. A report for a set the operator does not
/// hold is refused before it costs a review (<see cref="NoSuchSetReason"/>, 404). A review the API server
/// does not answer fails with <see cref="ReviewUnavailableReason"/> (503), a refusal with the reason (403).
/// </summary>
public sealed class MayReportHandler(CallerAuthenticator callers, ISigningKeySets sets) : AuthorizationHandler<MayReportRequirement, HttpContext>
{
    protected override async Task HandleRequirementAsync(AuthorizationHandlerContext context, MayReportRequirement requirement, HttpContext http)
    {
        if (context.User.Identity?.IsAuthenticated != true)
            return;
        if (CallerPrincipal.IsForwarded(context.User))
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

        var user = CallerPrincipal.UserOf(context.User);
        var (allowed, unavailable) = await callers.AuthorizeAsync(user, ns, name, http.RequestAborted);
        if (allowed == true)
            context.Succeed(requirement);
        else if (allowed is null)
            context.Fail(new ReviewUnavailableReason(this, unavailable!));
        else
            context.Fail(new AuthorizationFailureReason(this, $"{user.Username} may not create signingkeysets/signaturefailures for {ns}/{name}"));
    }
}
