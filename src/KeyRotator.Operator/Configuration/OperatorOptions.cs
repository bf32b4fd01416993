namespace KeyRotator.Operator.Configuration;

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

    /// <summary>Added to maxTokenLifetime + clockSkew in the overlap check: how long signers take to see a new signing Secret.</summary>
    public TimeSpan SignerPropagationAllowance { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How many retired or revoked keys a set keeps (status and key store) before older ones are removed.</summary>
    public int RetiredKeyHistory { get; set; } = 5;

    /// <summary>Reconciles running at once (never two for the same set).</summary>
    public int Workers { get; set; } = 2;

    /// <summary>Restart a watch that has been silent this long (bookmarks included).</summary>
    public TimeSpan WatchdogTimeout { get; set; } = TimeSpan.FromMinutes(12);

    /// <summary>
    /// After a burst of work (a convergence, a rotation storm), once no reconcile has run this long, one
    /// full collection returns the burst's garbage to the system. Zero turns it off.
    /// </summary>
    public TimeSpan MemoryTrimQuietPeriod { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// ASP.NET Core's per-request log lines (request started and finished, endpoint executed). Off by
    /// default: anyone who can reach the HTTP port could otherwise write lines to the operator's log at
    /// the rate they send requests. Read once at start-up.
    /// </summary>
    public bool RequestLogging { get; set; }

    public LeaderElectionOptions LeaderElection { get; init; } = new();

    public ApiClientOptions Api { get; init; } = new();

    public ReportOptions Reports { get; init; } = new();

    public MetricsOptions Metrics { get; init; } = new();

    public AzureKeyVaultOptions AzureKeyVault { get; init; } = new();

    public Pkcs11Options Pkcs11 { get; init; } = new();
}

/// <summary>PKCS#11 modules the operator may load (section KeyRotator:Pkcs11).</summary>
public sealed class Pkcs11Options
{
    /// <summary>
    /// Absolute paths of the modules SigningKeySets may name (the platform team sets them in the chart,
    /// pkcs11.libraries). A module runs inside the process that holds every tenant's keys, so none is
    /// loaded that is not listed here; empty (the default) means no PKCS#11.
    /// </summary>
    public IList<string> Libraries { get; init; } = [];
}

/// <summary>How the operator talks to Azure Key Vault (section KeyRotator:AzureKeyVault).</summary>
public sealed class AzureKeyVaultOptions
{
    /// <summary>Key Vault's service limit: software-key creates per vault in any 10 s.</summary>
    public const int SoftwareCreatesServiceLimit = 20;

    /// <summary>Key Vault's service limit: HSM-key creates per vault in any 10 s.</summary>
    public const int HsmCreatesServiceLimit = 10;

    /// <summary>Retries (with exponential backoff, honouring Retry-After) for 408, 429, 5xx and timeouts.</summary>
    public int MaxRetries { get; set; } = 4;

    /// <summary>How long one request may take before it is abandoned and retried.</summary>
    public TimeSpan NetworkTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Software-key creates per vault per 10 s; never above the service limit of 20.</summary>
    public int SoftwareCreatesPer10Seconds { get; set; } = SoftwareCreatesServiceLimit;

    /// <summary>HSM-key creates per vault per 10 s; never above the service limit of 10.</summary>
    public int HsmCreatesPer10Seconds { get; set; } = HsmCreatesServiceLimit;
}

/// <summary>
/// How fast the operator talks to the Kubernetes API (section KeyRotator:Api), in the manner of
/// controller-runtime's --kube-api-qps and --kube-api-burst.
/// </summary>
public sealed class ApiClientOptions
{
    /// <summary>
    /// Requests per second, on average; 0 (the default) sets no client-side limit. As in controller-runtime
    /// since v0.21, the API server's own priority and fairness is what protects it: the operator's
    /// concurrency is already bounded by Workers, and every 429 it gets is waited out and retried.
    /// Set a limit to be gentler than that on a shared or small control plane.
    /// </summary>
    public double Qps { get; set; }

    /// <summary>Requests that may go at once above Qps after a quiet spell.</summary>
    public int Burst { get; set; } = 100;

    /// <summary>Times a request answered 429 (or 5xx with Retry-After) is sent again before its error reaches the reconcile, which then backs off.</summary>
    public int MaxRetries { get; set; } = 10;

    /// <summary>The longest wait before one retry, whatever Retry-After asks for.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(30);
}
