namespace KeyRotator.Operator.Hosting;

/// <summary>Operator-wide settings (configuration section "KeyRotator", env KeyRotator__…).</summary>
public sealed class OperatorOptions
{
    public const string Section = "KeyRotator";

    /// <summary>Namespaces to watch; empty means the whole cluster.</summary>
    public IList<string> WatchNamespaces { get; init; } = [];

    /// <summary>The smallest spec.rotation.prePublish accepted (consumer JWKS caches need time to reload).</summary>
    public TimeSpan MinimumPrePublish { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>The smallest spec.rotation.interval accepted.</summary>
    public TimeSpan MinimumInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Reconciles running at once (never two for the same set).</summary>
    public int Workers { get; set; } = 2;

    /// <summary>Restart a watch that has been silent this long (bookmarks included).</summary>
    public TimeSpan WatchdogTimeout { get; set; } = TimeSpan.FromMinutes(12);

    public LeaderElectionOptions LeaderElection { get; init; } = new();

    public KeyRotator.Operator.Observability.ReportOptions Reports { get; init; } = new();
}
