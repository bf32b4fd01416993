using Microsoft.AspNetCore.Authorization;

namespace KeyRotator.Operator.Serving;

/// <summary>The caller may <c>get</c> the non-resource URL /metrics (what the ClusterRole keyrotator-metrics-reader grants).</summary>
public sealed class MayReadMetricsRequirement : IAuthorizationRequirement;
