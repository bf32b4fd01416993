namespace KeyRotator.Client;

/// <summary>How tokens are verified. The defaults are the hardened ones; loosening them is deliberate.</summary>
public sealed class KeyRotatorValidationOptions
{
    public static readonly TimeSpan MaximumClockSkew = TimeSpan.FromSeconds(60);

    /// <summary>The mounted JWKS file (the ConfigMap's "jwks.json").</summary>
    public string JwksPath { get; set; } = "/etc/keyrotator/jwks/jwks.json";

    /// <summary>Accepted "iss" values; required.</summary>
    public IList<string> ValidIssuers { get; } = [];

    /// <summary>Accepted "aud" values; required.</summary>
    public IList<string> ValidAudiences { get; } = [];

    /// <summary>Tolerated clock difference; at most 60 s.</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Tokens living longer than this (exp − nbf/iat) are rejected.</summary>
    public TimeSpan MaxTokenLifetime { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Where failures are reported (the operator's Service); null disables reporting.</summary>
    public Uri? ReportEndpoint { get; set; }

    /// <summary>The SigningKeySet whose keys these are, as namespace and name.</summary>
    public string? SetNamespace { get; set; }

    public string? SetName { get; set; }

    /// <summary>A projected service-account token with audience "keyrotator", re-read before each report.</summary>
    public string ReportTokenPath { get; set; } = "/var/run/secrets/keyrotator/token";

    /// <summary>Failures waiting to be reported; beyond it they are dropped (and counted), never blocking a request.</summary>
    public int ReportQueueCapacity { get; set; } = 10_000;

    public TimeSpan ReportInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Send a report every <see cref="ReportInterval"/> even without failures: a heartbeat that tells the
    /// operator which JWKS this verifier holds (and, for a signer, which kid it signs with), so that a
    /// rotation can wait for verifiers that have not caught up.
    /// </summary>
    public bool Heartbeat { get; set; } = true;

    /// <summary>Who this verifier is among the service's pods; the pod name (HOSTNAME) by default.</summary>
    public string Instance { get; set; } = Environment.GetEnvironmentVariable("HOSTNAME") is { Length: > 0 } host ? host : Environment.MachineName;

    /// <summary>Every problem with these options, worded for the person configuring the service.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(JwksPath))
            problems.Add("JwksPath is required: the path of the mounted jwks.json");
        if (ValidIssuers.Count == 0)
            problems.Add("ValidIssuers needs at least one issuer: tokens without a checked iss are accepted from anyone holding a key");
        if (ValidAudiences.Count == 0)
            problems.Add("ValidAudiences needs at least one audience: a token minted for another service would be accepted");
        if (ClockSkew < TimeSpan.Zero || ClockSkew > MaximumClockSkew)
            problems.Add($"ClockSkew {ClockSkew} must be between 0 and {MaximumClockSkew}");
        if (MaxTokenLifetime <= TimeSpan.Zero)
            problems.Add("MaxTokenLifetime must be positive");
        if (ReportEndpoint is not null && (string.IsNullOrEmpty(SetNamespace) || string.IsNullOrEmpty(SetName)))
            problems.Add("SetNamespace and SetName are required when ReportEndpoint is set");
        if (ReportQueueCapacity < 1)
            problems.Add("ReportQueueCapacity must be at least 1");
        return problems;
    }
}
