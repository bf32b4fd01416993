namespace KeyRotator.Cli;

/// <summary>Exit codes scripts can rely on.</summary>
public static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>The command failed: no kubeconfig, API error, …</summary>
    public const int Error = 1;

    /// <summary>The command line was wrong.</summary>
    public const int Usage = 2;

    /// <summary>The named set (or key) does not exist.</summary>
    public const int NotFound = 3;

    /// <summary>inspect: the token has hardening findings or failed verification.</summary>
    public const int Findings = 4;
}
