using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace KeyRotator.Client.Tests;

public sealed class OptionsTests
{
    [Fact]
    public void Missing_issuer_audience_and_a_lax_clock_skew_fail_at_start_up_with_every_problem_named()
    {
        var services = new ServiceCollection();

        var error = Assert.Throws<OptionsValidationException>(() =>
            new AuthenticationBuilder(services).AddKeyRotatorJwtBearer(o => o.ClockSkew = TimeSpan.FromMinutes(5)));

        Assert.Contains(error.Failures, f => f.StartsWith("ValidIssuers", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.StartsWith("ValidAudiences", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.StartsWith("ClockSkew", StringComparison.Ordinal));
    }
}
