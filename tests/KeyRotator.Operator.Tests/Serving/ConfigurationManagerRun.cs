using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace KeyRotator.Operator.Tests.Serving;

/// <summary>
/// A relying party on Microsoft.IdentityModel's ConfigurationManager through rotations: every 250 ms a token is
/// signed with the set's signing Secret (lifetime 3 s) and every live token is validated against what the
/// manager holds, refreshed when the HTTP cache's copy has expired. Shared by the endpoint and the blob tests.
/// </summary>
internal static class ConfigurationManagerRun
{
    /// <summary>Until three rotations after <paramref name="firstKid"/> or two minutes: the kids that signed, the failed validations, how many ran.</summary>
    public static async Task<(List<string> ActiveKids, List<string> Failures, int Validated)> AcrossThreeRotationsAsync(
        OperatorScenario scenario, string firstKid, ConfigurationManager<OpenIdConnectConfiguration> manager, JwksHttpTests.HttpCachingRetriever retriever,
        string issuer, string audience, CancellationToken ct)
    {
        var handler = new JsonWebTokenHandler();
        var inFlight = new List<(string Token, string Kid, DateTime Expires)>();
        var activeKids = new List<string> { firstKid };
        var failures = new List<string>();
        var validated = 0;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        while (activeKids.Count < 4 && DateTime.UtcNow < deadline)
        {
            var (kid, pem, alg) = await scenario.SigningAsync("auth-signing");
            if (kid is not null && kid != activeKids[^1])
                activeKids.Add(kid);
            var now = DateTime.UtcNow;
            if (kid is not null)
                inFlight.Add((TokenSigner.Sign(pem!, kid, alg!, issuer, audience, now, TimeSpan.FromSeconds(3)), kid, now.AddSeconds(3)));
            inFlight.RemoveAll(t => t.Expires < now);

            if (retriever.Stale)
                manager.RequestRefresh(); // what the cache headers say: the copy has expired
            var configuration = await manager.GetConfigurationAsync(ct);
            foreach (var (token, tokenKid, _) in inFlight)
            {
                var result = await handler.ValidateTokenAsync(token, Parameters(configuration, audience));
                validated++;
                if (!result.IsValid)
                    failures.Add($"{DateTime.UtcNow:HH:mm:ss.fff} token signed with {tokenKid}: {result.Exception?.GetType().Name}: {result.Exception?.Message}");
            }

            await Task.Delay(250, ct);
        }

        return (activeKids, failures, validated);
    }

    /// <summary>Strict validation against <paramref name="configuration"/>: its keys and issuer, the audience, ES256 only, 1 s of skew.</summary>
    public static TokenValidationParameters Parameters(OpenIdConnectConfiguration configuration, string audience, bool validateLifetime = true) => new()
    {
        IssuerSigningKeys = configuration.SigningKeys,
        ValidIssuer = configuration.Issuer,
        ValidAudience = audience,
        ValidAlgorithms = ["ES256"],
        ClockSkew = TimeSpan.FromSeconds(1),
        ValidateLifetime = validateLifetime,
    };
}
