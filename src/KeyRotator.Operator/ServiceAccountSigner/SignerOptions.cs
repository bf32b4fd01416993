namespace KeyRotator.Operator.ServiceAccountSigner;

/// <summary>
/// The signer mode's command line: <c>keyrotator-operator signer --socket PATH --set NAMESPACE/NAME
/// [--state-file PATH] [--poll DURATION]</c>, read as configuration keys like the operator's own flags.
/// </summary>
public sealed record SignerOptions
{
    public const string Usage = "usage: KeyRotator.Operator signer --socket /run/keyrotator/signer.sock --set NAMESPACE/NAME [--state-file PATH] [--poll 5s] [--kubeconfig PATH]";

    /// <summary>The Unix domain socket the API server dials (--service-account-signing-endpoint).</summary>
    public required string Socket { get; init; }

    public required string Namespace { get; init; }

    public required string Name { get; init; }

    /// <summary>Where the last reading is kept (<see cref="StateFile"/>), to serve from at boot without the API server.</summary>
    public string? StateFile { get; init; }

    /// <summary>How often the set, its JWKS and its signing Secret are read again.</summary>
    public TimeSpan Poll { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The options, or every problem with the command line (each says what to write).</summary>
    public static (SignerOptions? Options, IReadOnlyList<string> Problems) From(string? socket, string? set, string? stateFile, string? poll)
    {
        var problems = new List<string>();
        if (string.IsNullOrEmpty(socket) || !Path.IsPathRooted(socket))
            problems.Add("--socket must be the absolute path of the Unix socket to listen on, e.g. /run/keyrotator/signer.sock");
        var parts = (set ?? "").Split('/');
        if (parts.Length != 2 || parts[0].Length is 0 or > 63 || parts[1].Length is 0 or > 253)
            problems.Add("--set must name the SigningKeySet as NAMESPACE/NAME, e.g. kube-system/cluster-issuer");
        if (stateFile is { Length: > 0 } && !Path.IsPathRooted(stateFile))
            problems.Add("--state-file must be an absolute path");
        var interval = TimeSpan.FromSeconds(5);
        if (poll is { Length: > 0 } && (!KeyRotator.Model.Time.GoDuration.TryParse(poll, out interval) || interval < TimeSpan.FromMilliseconds(100) || interval > TimeSpan.FromMinutes(1)))
            problems.Add("--poll must be a duration between 100ms and 1m, e.g. 5s");
        if (problems.Count > 0)
            return (null, problems);
        return (new SignerOptions { Socket = socket!, Namespace = parts[0], Name = parts[1], StateFile = stateFile is { Length: > 0 } ? stateFile : null, Poll = interval }, []);
    }
}
