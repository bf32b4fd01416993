using System.Diagnostics;

namespace KeyRotator.Testing;

/// <summary>The repository the tests run from, and the external tools the chart checks use.</summary>
public static class Repository
{
    public static string Root { get; } = FindRoot();

    /// <summary>The build configuration the tests were built in (Debug or Release).</summary>
    public static string Configuration { get; } = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;

    /// <summary>Where a project of src/ puts <paramref name="file"/> when built in the tests' configuration.</summary>
    public static string BuildOutput(string project, string file) => Path.Combine(Root, "src", project, "bin", Configuration, "net10.0", file);

    /// <summary>The Helm binary: $HELM (hack/test.sh sets it from hack/helm.sh), else helm on PATH.</summary>
    public static string Helm => Environment.GetEnvironmentVariable("HELM") is { Length: > 0 } helm ? helm : "helm";

    /// <summary>kubectl: the one built with the control plane, else kubectl on PATH.</summary>
    public static string Kubectl =>
        Environment.GetEnvironmentVariable("KUBEBUILDER_ASSETS") is { Length: > 0 } assets && File.Exists(Path.Combine(assets, "kubectl"))
            ? Path.Combine(assets, "kubectl")
            : ControlPlane.FindAssets() is { } found && File.Exists(Path.Combine(found, "kubectl")) ? Path.Combine(found, "kubectl") : "kubectl";

    public static Task<(int ExitCode, string Output)> RunAsync(string file, params string[] arguments) =>
        RunAsync(file, new Dictionary<string, string>(), arguments);

    /// <summary>Runs <paramref name="file"/> from the repository root with <paramref name="environment"/> added to this process's.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string file, IReadOnlyDictionary<string, string> environment, params string[] arguments)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Root };
        foreach (var argument in arguments)
            info.ArgumentList.Add(argument);
        foreach (var (name, value) in environment)
            info.Environment[name] = value;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "KeyRotator.sln")))
                return dir.FullName;
        }

        throw new InvalidOperationException("the tests must run inside the KeyRotator repository");
    }
}
