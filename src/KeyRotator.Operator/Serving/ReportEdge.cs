using System.Threading.RateLimiting;
using KeyRotator.Operator.Configuration;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.Serving;

/// <summary>
/// The failure-report endpoint's guards, built from ASP.NET Core's own pieces, in this order: the
/// <see cref="ReportAuth.Scheme"/> authentication scheme (run for this endpoint only: the JWKS and
/// health endpoints stay anonymous and cost nothing per token), the per-caller rate limiter (before
/// authorization, so that a flooding caller costs no SubjectAccessReview), then the
/// <see cref="ReportAuth.Policy"/> policy. Elsewhere only /metrics authenticates (<see cref="MetricsEdge"/>).
/// </summary>
internal static class ReportEdge
{
    private const string Route = "/v1/namespaces/{ns}/signingkeysets/{name}/signaturefailures";

    public static void AddReportEdge(this IServiceCollection services)
    {
        services.AddAuthentication().AddScheme<AuthenticationSchemeOptions, ReportAuthenticationHandler>(ReportAuth.Scheme, null);
        // ASP.NET Core makes a lone scheme the default, which would authenticate every request that carries
        // a token (a JWKS fetch would wait on a TokenReview). This scheme is for the report endpoint only.
        services.AddSingleton<IAuthenticationSchemeProvider, NoDefaultSchemeProvider>();
        services.AddSingleton<IAuthorizationHandler, MayReportHandler>();
        services.AddSingleton<Microsoft.AspNetCore.Authorization.IAuthorizationMiddlewareResultHandler, ReportAuthorizationResultHandler>();
        services.AddAuthorizationBuilder().AddPolicy(ReportAuth.Policy, policy => policy
            .AddAuthenticationSchemes(ReportAuth.Scheme)
            .RequireAuthenticatedUser()
            .AddRequirements(new MayReportRequirement()));
        services.AddRateLimiter(limiter =>
        {
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.OnRejected = (rejected, cancellationToken) => new ValueTask(ReportErrors.WriteAsync(rejected.HttpContext, StatusCodes.Status429TooManyRequests,
                "too many reports from this caller; batch failures and report at most a few times per second", retryAfterSeconds: 1));
            limiter.AddPolicy(ReportAuth.RateLimit, context =>
            {
                // Reports a replica passed on were counted where they arrived.
                if (context.User.Identity?.IsAuthenticated != true || ReportAuth.IsForwarded(context.User))
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

    public static void MapReports(this WebApplication app)
    {
        // Authentication for this endpoint only, ahead of the rate limiter that partitions by caller.
        app.Use(async (context, next) =>
        {
            if (context.GetEndpoint()?.Metadata.GetMetadata<ReportEndpointMarker>() is not null
                && await context.AuthenticateAsync(ReportAuth.Scheme) is { Succeeded: true } result)
                context.User = result.Principal;
            await next(context);
        });
        app.UseRateLimiter();
        app.UseAuthorization();
        app.MapPost(Route, (HttpContext context, string ns, string name, SignatureFailureEndpoint endpoint) => endpoint.HandleAsync(context, ns, name))
            .WithMetadata(ReportEndpointMarker.Instance)
            .RequireRateLimiting(ReportAuth.RateLimit)
            .RequireAuthorization(ReportAuth.Policy);
    }

    /// <summary>The scheme provider without a default scheme: only endpoints that name a scheme authenticate.</summary>
    private sealed class NoDefaultSchemeProvider(IOptions<AuthenticationOptions> options) : AuthenticationSchemeProvider(options)
    {
        private static readonly Task<AuthenticationScheme?> None = Task.FromResult<AuthenticationScheme?>(null);

        public override Task<AuthenticationScheme?> GetDefaultAuthenticateSchemeAsync() => None;

        public override Task<AuthenticationScheme?> GetDefaultChallengeSchemeAsync() => None;

        public override Task<AuthenticationScheme?> GetDefaultForbidSchemeAsync() => None;

        public override Task<AuthenticationScheme?> GetDefaultSignInSchemeAsync() => None;

        public override Task<AuthenticationScheme?> GetDefaultSignOutSchemeAsync() => None;
    }

    private sealed class ReportEndpointMarker
    {
        public static ReportEndpointMarker Instance { get; } = new();
    }
}
