using KeyRotator.Operator.Observability;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.DependencyInjection;

namespace KeyRotator.Operator.Tests.Hosting;

/// <summary>
/// The report endpoint's authentication is the report endpoint's alone: no request elsewhere (a JWKS
/// fetch, /metrics) is authenticated by default, so a token on those costs no TokenReview and no wait.
/// ReportEndpointTests show the scheme, the policy and the limits at work on the built operator.
/// </summary>
public sealed class ReportEdgeTests
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
    }
}
