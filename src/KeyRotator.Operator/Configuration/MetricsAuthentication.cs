namespace KeyRotator.Operator.Configuration;

/// <summary>How /metrics checks its callers (KeyRotator:Metrics:Authentication).</summary>
public enum MetricsAuthentication
{
    /// <summary>A service-account token (TokenReview) allowed <c>get</c> on <c>/metrics</c> (SubjectAccessReview).</summary>
    ServiceAccount,

    /// <summary>No check: anyone who reaches the port reads the metrics, every set's series included.</summary>
    None,
}
