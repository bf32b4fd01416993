using System.Threading.RateLimiting;
using KeyRotator.Operator.Configuration;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Prometheus;

namespace KeyRotator.Operator.Serving;

/// <summary>
/// The HTTP room as the host composes it: who may call each endpoint and what the call can change, with
/// ASP.NET Core's own pieces only. The JWKS and discovery documents are anonymous (a fetch carrying a
/// token is also a verifier's heartbeat, checked in the background by the same scheme and policy as a
/// report: <see cref="JwksObservations"/>). A failure report passes the <see cref="ReportAuth.Policy"/>
/// policy (the <see cref="ReportAuth.Scheme"/> scheme, then a SubjectAccessReview for the set) and then
/// the per-caller rate limiter; /metrics the <see cref="MetricsAuth.Policy"/> policy, unless
/// KeyRotator:Metrics:Authentication=None. Both schemes are <see cref="ServiceAccountAuthenticationHandler"/>
/// and neither is the default (the framework makes a lone scheme the default; with two it makes none),
/// so only the endpoints whose policy names a scheme authenticate: health and a JWKS fetch never wait on
/// a TokenReview.
/// </summary>
internal static class HttpEdge
{
    public static void AddHttpEdge(this IServiceCollection services)
    {
        services.AddSingleton<ClusterIssuerKeys>();
        services.AddSingleton<CallerAuthenticator>();
        services.AddSingleton<PeerForwarder>();
        services.AddSingleton<SignatureFailureEndpoint>();
        services.AddSingleton<JwksEndpoint>();
        services.AddSingleton<JwksObservations>();
        services.AddHostedService(s => s.GetRequiredService<JwksObservations>());
        // The bodies' JSON metadata is generated at compile time (Native AOT): the framework asks this context first.
        services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, ServingJson.Default));

        services.AddAuthentication()
            .AddScheme<ServiceAccountSchemeOptions, ServiceAccountAuthenticationHandler>(ReportAuth.Scheme, null)
            .AddScheme<ServiceAccountSchemeOptions, ServiceAccountAuthenticationHandler>(MetricsAuth.Scheme, scheme =>
            {
                // A token the API server accepts for its own audiences: the one a Prometheus pod mounts.
                scheme.Audience = null;
                scheme.MissingToken = "a service-account token is required (Authorization: Bearer …) of a caller allowed to get /metrics";
                scheme.ComeBack = "scrape again later";
            });
        services.AddOptions<ServiceAccountSchemeOptions>(ReportAuth.Scheme).Configure<IOptions<OperatorOptions>>((scheme, options) =>
        {
            scheme.Audience = options.Value.Reports.Audience;
            scheme.AcceptsForwardedReports = true;
            scheme.MissingToken = $"a service-account token is required (Authorization: Bearer …, audience {options.Value.Reports.Audience})";
            scheme.ComeBack = "send it again later";
        });

        services.AddSingleton<IAuthorizationHandler, MayReportHandler>();
        services.AddSingleton<IAuthorizationHandler, MayReadMetricsHandler>();
        services.AddSingleton<Microsoft.AspNetCore.Authorization.IAuthorizationMiddlewareResultHandler, RefusalAnswers>();
        services.AddAuthorizationBuilder()
            .AddPolicy(ReportAuth.Policy, policy => policy
                .AddAuthenticationSchemes(ReportAuth.Scheme)
                .RequireAuthenticatedUser()
                .AddRequirements(new MayReportRequirement()))
            .AddPolicy(MetricsAuth.Policy, policy => policy
                .AddAuthenticationSchemes(MetricsAuth.Scheme)
                .RequireAuthenticatedUser()
                .AddRequirements(new MayReadMetricsRequirement()));

        services.AddRateLimiter(limiter =>
        {
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.OnRejected = (rejected, cancellationToken) => new ValueTask(ErrorAnswer.WriteAsync(rejected.HttpContext, StatusCodes.Status429TooManyRequests,
                "too many reports from this caller; batch failures and report at most a few times per second", retryAfterSeconds: 1));
            limiter.AddPolicy(ReportAuth.RateLimit, context =>
            {
                // Reports a replica passed on were counted where they arrived.
                if (context.User.Identity?.IsAuthenticated != true || CallerPrincipal.IsForwarded(context.User))
                    return RateLimitPartition.GetNoLimiter("");
                var rate = Math.Max(1, context.RequestServices.GetRequiredService<IOptions<OperatorOptions>>().Value.Reports.RequestsPerSecondPerCaller);
                return RateLimitPartition.GetTokenBucketLimiter(context.User.Identity.Name!, _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = rate * 2,
                    TokensPerPeriod = rate,
                    ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                });
            });
        });
    }

    public static void MapHttpEdge(this WebApplication app, CollectorRegistry registry, MetricsAuthentication metricsAuthentication)
    {
        // The framework's order: the authorization middleware authenticates the scheme an endpoint's policy
        // names and checks the policy (a refused caller is answered there, and its decision is cached, so a
        // flood costs one review); the rate limiter then partitions by the caller it authenticated.
        app.UseAuthorization();
        app.UseRateLimiter();
        app.MapGet(JwksEndpoint.JwksPath, (HttpContext context, string ns, string name, JwksEndpoint endpoint) => endpoint.Jwks(context, ns, name));
        app.MapGet(JwksEndpoint.DiscoveryPath, (HttpContext context, string ns, string name, JwksEndpoint endpoint) => endpoint.Discovery(context, ns, name));
        app.MapPost(ReportAuth.Path, (HttpContext context, string ns, string name, SignatureFailureEndpoint endpoint) => endpoint.HandleAsync(context, ns, name))
            .RequireAuthorization(ReportAuth.Policy)
            .RequireRateLimiting(ReportAuth.RateLimit);
        var metrics = app.MapMetrics(MetricsAuth.Path, registry);
        if (metricsAuthentication != MetricsAuthentication.None)
            metrics.RequireAuthorization(MetricsAuth.Policy);
    }
}
