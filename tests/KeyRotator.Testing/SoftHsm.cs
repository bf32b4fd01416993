using System.Diagnostics;

namespace KeyRotator.Testing;

/// <summary>
/// A SoftHSM2 token for the PKCS#11 tests, made once per test process: its own config and token
/// directory (SOFTHSM2_CONF), token "keyrotator", user PIN 1234. .ci/run installs softhsm2.
/// </summary>
public static partial class SoftHsm
{
    public const string Library = "/usr/lib/softhsm/libsofthsm2.so";
    public const string TokenLabel = "keyrotator";
    public const string UserPin = "1234";

    private static readonly Lazy<string> Setup = new(Initialize);

    /// <summary>Why the token cannot be had here, or null when it is ready.</summary>
    public static string? Unavailable => File.Exists(Library) && File.Exists("/usr/bin/softhsm2-util")
        ? null
        : "SoftHSM2 is not installed (apt-get install softhsm2; .ci/run does this)";

    public static string EnsureToken() => Setup.Value;

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);

    private static string Initialize()
    {
        var root = Directory.CreateTempSubdirectory("keyrotator-softhsm-").FullName;
        Directory.CreateDirectory(Path.Combine(root, "tokens"));
        var config = Path.Combine(root, "softhsm2.conf");
        File.WriteAllText(config, $"directories.tokendir = {Path.Combine(root, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\n");
        // SoftHSM reads SOFTHSM2_CONF with getenv(3), which does not see .NET's managed environment.
        Environment.SetEnvironmentVariable("SOFTHSM2_CONF", config);
        if (SetEnv("SOFTHSM2_CONF", config, 1) != 0)
            throw new InvalidOperationException("setenv(SOFTHSM2_CONF) failed");
        var info = new ProcessStartInfo("softhsm2-util", ["--init-token", "--free", "--label", TokenLabel, "--pin", UserPin, "--so-pin", "5678"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["SOFTHSM2_CONF"] = config;
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"softhsm2-util --init-token failed: {output}");
        return root;
    }
}
