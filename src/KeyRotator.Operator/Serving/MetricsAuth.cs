namespace KeyRotator.Operator.Serving;

/// <summary>The names that tie /metrics to its authentication scheme and authorization policy.</summary>
public static class MetricsAuth
{
    public const string Path = "/metrics";
    public const string Scheme = "KeyRotatorMetricsReader";
    public const string Policy = "MayReadMetrics";
}
