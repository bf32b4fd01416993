using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KeyRotator.Client;

public static class KeyRotatorAuthenticationExtensions
{
    /// <summary>
    /// JWT bearer authentication against the KeyRotator JWKS mounted at <see cref="KeyRotatorValidationOptions.JwksPath"/>,
    /// with the hardened checks of <see cref="KeyRotatorTokenValidator"/> and, when configured, failure reporting to the operator.
    /// Invalid options fail at start-up with a message naming each problem.
    /// </summary>
    public static AuthenticationBuilder AddKeyRotatorJwtBearer(
        this AuthenticationBuilder builder, Action<KeyRotatorValidationOptions> configure, string scheme = JwtBearerDefaults.AuthenticationScheme)
    {
        var options = new KeyRotatorValidationOptions();
        configure(options);
        var problems = options.Problems();
        if (problems.Count > 0)
            throw new OptionsValidationException(nameof(KeyRotatorValidationOptions), typeof(KeyRotatorValidationOptions), problems);

        var services = builder.Services;
        services.AddSingleton(options);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new ClientMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.TryAddSingleton(sp => new JwksFileSource(options.JwksPath, sp.GetRequiredService<TimeProvider>(), logger: sp.GetService<ILogger<JwksFileSource>>()));
        if (options.ReportEndpoint is not null)
        {
            services.AddHttpClient(nameof(FailureReporter));
            services.TryAddSingleton(sp => new FailureReporter(options, sp.GetRequiredService<IHttpClientFactory>().CreateClient(nameof(FailureReporter)),
                sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ClientMetrics>(), sp.GetService<ILogger<FailureReporter>>())
            {
                HeldJwks = () => sp.GetRequiredService<JwksFileSource>().Current,
            });
            services.AddHostedService(sp => sp.GetRequiredService<FailureReporter>());
        }

        services.TryAddSingleton(sp => new KeyRotatorTokenValidator(
            sp.GetRequiredService<JwksFileSource>(), options, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ClientMetrics>(),
            options.ReportEndpoint is null ? null : sp.GetRequiredService<FailureReporter>()));

        builder.AddJwtBearer(scheme, _ => { });
        services.AddSingleton<IPostConfigureOptions<JwtBearerOptions>>(sp => new PostConfigureJwtBearer(scheme, sp.GetRequiredService<KeyRotatorTokenValidator>()));
        return builder;
    }

    private sealed class PostConfigureJwtBearer(string scheme, KeyRotatorTokenValidator validator) : IPostConfigureOptions<JwtBearerOptions>
    {
        public void PostConfigure(string? name, JwtBearerOptions options)
        {
            if (name != scheme)
                return;
            options.TokenHandlers.Clear();
            options.TokenHandlers.Add(new KeyRotatorTokenHandler(validator));
            options.MapInboundClaims = false;
            options.TokenValidationParameters.ValidateIssuerSigningKey = false;
        }
    }
}
