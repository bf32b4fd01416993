using KeyRotator.Operator.Configuration;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Prometheus;

namespace KeyRotator.Operator.Serving;

/// <summary>
/// /metrics names every set the operator manages, in every namespace, so by default only a caller
/// allowed <c>get</c> on the non-resource URL /metrics reads it: the <see cref="MetricsAuth.Scheme"/>
/// scheme (a TokenReview, run for this endpoint only) and the <see cref="MetricsAuth.Policy"/> policy
/// (a SubjectAccessReview), both cached and within the same review budget as failure reports.
/// KeyRotator:Metrics:Authentication=None serves it to anyone, for Prometheus setups that scrape without a token.
/// </summary>
internal static class MetricsEdge
{
    public static void AddMetricsEdge(this IServiceCollection services)
    {
        services.AddAuthentication().AddScheme<AuthenticationSchemeOptions, MetricsAuthenticationHandler>(MetricsAuth.Scheme, null);
        services.AddSingleton<IAuthorizationHandler, MayReadMetricsHandler>();
        services.AddAuthorizationBuilder().AddPolicy(MetricsAuth.Policy, policy => policy
            .AddAuthenticationSchemes(MetricsAuth.Scheme)
            .RequireAuthenticatedUser()
            .AddRequirements(new MayReadMetricsRequirement()));
    }

    /// <summary>Maps /metrics; after <see cref="ReportEdge.MapReports"/>, whose authorization middleware guards it.</summary>
    public static void MapOperatorMetrics(this WebApplication app, CollectorRegistry registry, MetricsAuthentication authentication)
    {
        var endpoint = app.MapMetrics(MetricsAuth.Path, registry);
        if (authentication != MetricsAuthentication.None)
            endpoint.RequireAuthorization(MetricsAuth.Policy);
    }
}
