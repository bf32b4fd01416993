using KeyRotator.Operator.Serving;
using KeyRotator.Operator.Tests.Hosting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.DependencyInjection;

namespace KeyRotator.Operator.Tests.Serving;

/// <summary>
/// The report endpoint's and /metrics' authentication are theirs alone: no scheme is the default, so no
/// request elsewhere (a JWKS fetch, health) is authenticated on its way in, and a token on those costs no
/// TokenReview and no wait (a JWKS fetch's token is checked in the background, JwksObservations).
/// ReportEndpointTests and MetricsAuthenticationTests show the schemes and policies at work.
/// </summary>
public sealed class HttpEdgeTests
{
    [Fact]
    public async Task The_report_scheme_is_not_the_default_and_the_policy_names_it()
    {
        await using var app = UnstartedOperator.Build();

        var schemes = app.Services.GetRequiredService<IAuthenticationSchemeProvider>();
        Assert.NotNull(await schemes.GetSchemeAsync(ReportAuth.Scheme));
        Assert.Null(await schemes.GetDefaultAuthenticateSchemeAsync());
        Assert.Null(await schemes.GetDefaultChallengeSchemeAsync());

        var policy = await app.Services.GetRequiredService<IAuthorizationPolicyProvider>().GetPolicyAsync(ReportAuth.Policy);
        Assert.NotNull(policy);
        Assert.Equal([ReportAuth.Scheme], policy.AuthenticationSchemes);
        Assert.Contains(policy.Requirements, r => r is MayReportRequirement);

        Assert.NotNull(await schemes.GetSchemeAsync(MetricsAuth.Scheme));
        var metrics = await app.Services.GetRequiredService<IAuthorizationPolicyProvider>().GetPolicyAsync(MetricsAuth.Policy);
        Assert.NotNull(metrics);
        Assert.Equal([MetricsAuth.Scheme], metrics.AuthenticationSchemes);
        Assert.Contains(metrics.Requirements, r => r is MayReadMetricsRequirement);
    }
}
