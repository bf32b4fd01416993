namespace KeyRotator.Operator.Configuration;

public sealed class LeaderElectionOptions
{
    public bool Enabled { get; set; } = true;

    /// <summary>Namespace of the Lease; defaults to the pod's namespace (POD_NAMESPACE) or "default".</summary>
    public string? Namespace { get; set; }

    public string LeaseName { get; set; } = "keyrotator-leader";

    /// <summary>This instance's identity; defaults to the pod name (POD_NAME) or host name plus a random suffix.</summary>
    public string? Identity { get; set; }

    /// <summary>How long a Lease must go unrenewed, on a standby's own clock, before that standby may take it over.</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How long a leader goes on without a successful renewal before it stops all work; shorter than <see cref="LeaseDuration"/>.</summary>
    public TimeSpan RenewDeadline { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often a leader renews and a standby tries to acquire.</summary>
    public TimeSpan RetryPeriod { get; set; } = TimeSpan.FromSeconds(2);
}
