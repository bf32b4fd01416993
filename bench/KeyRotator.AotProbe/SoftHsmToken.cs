using System.Diagnostics;
using System.Runtime.InteropServices;

namespace KeyRotator.AotProbe;

/// <summary>
/// A fresh SoftHSM2 token in a temporary directory, as tests/KeyRotator.Testing/SoftHsm.cs makes one:
/// its own SOFTHSM2_CONF, token "keyrotator", user PIN 1234.
/// </summary>
internal static partial class SoftHsmToken
{
    public const string Library = "/usr/lib/softhsm/libsofthsm2.so";
    public const string Label = "keyrotator";
    public const string UserPin = "1234";

    public static string Create()
    {
        var root = Directory.CreateTempSubdirectory("keyrotator-aotprobe-").FullName;
        Directory.CreateDirectory(Path.Combine(root, "tokens"));
        var config = Path.Combine(root, "softhsm2.conf");
        File.WriteAllText(config, $"directories.tokendir = {Path.Combine(root, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\n");

        // SoftHSM reads SOFTHSM2_CONF with getenv(3), which does not see .NET's managed environment.
        if (SetEnv("SOFTHSM2_CONF", config, 1) != 0)
            throw new InvalidOperationException("setenv(SOFTHSM2_CONF) failed");
        var info = new ProcessStartInfo("softhsm2-util", ["--init-token", "--free", "--label", Label, "--pin", UserPin, "--so-pin", "5678"])
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

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);
}
