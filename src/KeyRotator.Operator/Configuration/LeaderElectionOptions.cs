namespace KeyRotator.Operator.Configuration;

public sealed class LeaderElectionOptions
{
    public bool Enabled { get; set; } = true;

    /// <summary>Namespace of the Lease; defaults to the pod's namespace (POD_NAMESPACE) or "default".</summary>
    public string? Namespace { get; set; }

    public string LeaseName { get; set; } = "keyrotator-leader";

    /// <summary>This instance's identity; defaults to the pod name (POD_NAME) or host name plus a random suffix.</summary>
    public string? Identity { get; set; }

    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(15);

    public TimeSpan RenewDeadline { get; set; } = TimeSpan.FromSeconds(10);

    public TimeSpan RetryPeriod { get; set; } = TimeSpan.FromSeconds(2);
}
