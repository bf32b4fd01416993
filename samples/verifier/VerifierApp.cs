using KeyRotator.Client;

namespace KeyRotator.Samples.Verifier;

/// <summary>
/// GET /hello answers only to a valid token. Configuration (section "Verifier"): JwksPath, Issuer,
/// Audience, and, to report failures (and heartbeats: which JWKS it holds) to the operator, ReportEndpoint,
/// SetNamespace, SetName, ReportTokenPath, ReportIntervalSeconds, Instance (default: the pod name).
/// </summary>
public static class VerifierApp
{
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        var config = builder.Configuration.GetSection("Verifier");
        builder.Services.AddAuthentication().AddKeyRotatorJwtBearer(options =>
        {
            options.JwksPath = config["JwksPath"] ?? options.JwksPath;
            options.ValidIssuers.Add(config["Issuer"] ?? "https://auth.example.com");
            options.ValidAudiences.Add(config["Audience"] ?? "verifier");
            if (config["ReportEndpoint"] is { Length: > 0 } endpoint)
            {
                options.ReportEndpoint = new Uri(endpoint);
                options.SetNamespace = config["SetNamespace"];
                options.SetName = config["SetName"];
                options.ReportTokenPath = config["ReportTokenPath"] ?? options.ReportTokenPath;
                options.ReportInterval = TimeSpan.FromSeconds(double.Parse(config["ReportIntervalSeconds"] ?? "10", System.Globalization.CultureInfo.InvariantCulture));
                options.Instance = config["Instance"] ?? options.Instance;
            }
        });
        builder.Services.AddAuthorization();

        var app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapGet("/hello", (System.Security.Claims.ClaimsPrincipal user) => $"hello {user.FindFirst("sub")?.Value}").RequireAuthorization();
        app.MapGet("/healthz", () => "ok");
        return app;
    }
}
