using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;

namespace KeyRotator.Operator.Serving;

/// <summary>
/// Checks <see cref="MayReadMetricsRequirement"/> with a SubjectAccessReview (cached by <see cref="CallerAuthenticator"/>),
/// as kube-rbac-proxy and controller-runtime's metrics filter do. A review the API server does not
/// answer fails with <see cref="ReviewUnavailableReason"/> (503), a refusal with the reason (403).
/// </summary>
public sealed class MayReadMetricsHandler(CallerAuthenticator callers) : AuthorizationHandler<MayReadMetricsRequirement>
{
    protected override async Task HandleRequirementAsync(AuthorizationHandlerContext context, MayReadMetricsRequirement requirement)
    {
        if (context.User.Identity?.IsAuthenticated != true)
            return;
        var user = CallerPrincipal.UserOf(context.User);
        var cancellation = (context.Resource as HttpContext)?.RequestAborted ?? CancellationToken.None;
        var (allowed, unavailable) = await callers.AuthorizeGetAsync(user, MetricsAuth.Path, cancellation);
        if (allowed == true)
            context.Succeed(requirement);
        else if (allowed is null)
            context.Fail(new ReviewUnavailableReason(this, unavailable!));
        else
            context.Fail(new AuthorizationFailureReason(this, $"{user.Username} may not get {MetricsAuth.Path} (bind the ClusterRole keyrotator-metrics-reader)"));
    }
}
