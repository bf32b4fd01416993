namespace KeyRotator.Operator.Configuration;

/// <summary>Who may read /metrics (section KeyRotator:Metrics). Read once at start-up.</summary>
public sealed class MetricsOptions
{
    /// <summary>
    /// <see cref="MetricsAuthentication.ServiceAccount"/> (the default): a scrape must carry a service-account
    /// token that a TokenReview accepts, and the caller must be allowed <c>get</c> on the non-resource URL
    /// <c>/metrics</c> (a SubjectAccessReview; the ClusterRole keyrotator-metrics-reader grants it), as
    /// kubebuilder-scaffolded operators serve their metrics. <see cref="MetricsAuthentication.None"/>: anyone
    /// who reaches the port reads every set's series (for clusters whose Prometheus scrapes without a token).
    /// </summary>
    public MetricsAuthentication Authentication { get; set; } = MetricsAuthentication.ServiceAccount;
}
