using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Packaging;

/// <summary>
/// There is no Docker engine here, so the image cannot be built in CI; these checks hold the
/// Dockerfile to its essentials, and publish the operator the way its build stage does.
/// </summary>
public sealed class DockerfileTests
{
    private static readonly string[] Lines = File.ReadAllLines(Path.Combine(Repository.Root, "Dockerfile"));

    private static List<string> FinalStage()
    {
        var start = Array.FindLastIndex(Lines, l => l.StartsWith("FROM ", StringComparison.Ordinal));
        return [.. Lines[start..]];
    }

    [Fact]
    public void Final_stage_runs_the_runtime_image_without_the_SDK_as_a_numeric_non_root_user_and_exposes_the_metrics_port()
    {
        var final = FinalStage();

        Assert.Matches(@"^FROM mcr\.microsoft\.com/dotnet/aspnet:10\.0", final[0]);
        Assert.DoesNotContain(final, l => l.Contains("/sdk", StringComparison.Ordinal));
        var user = Assert.Single(final, l => l.StartsWith("USER ", StringComparison.Ordinal));
        Assert.Matches(@"^USER [1-9][0-9]*(:[1-9][0-9]*)?$", user);
        Assert.Contains("EXPOSE 8080", final);
        Assert.Contains(final, l => l.StartsWith("ENTRYPOINT [\"dotnet\", \"KeyRotator.Operator.dll\"]", StringComparison.Ordinal));
    }

    [Fact]
    public void Restore_is_a_layer_of_its_own_before_the_sources_are_copied()
    {
        var restore = Array.FindIndex(Lines, l => l.StartsWith("RUN dotnet restore", StringComparison.Ordinal));
        var sources = Array.FindIndex(Lines, l => l.StartsWith("COPY src/KeyRotator.Operator/ ", StringComparison.Ordinal));

        Assert.True(restore > 0 && sources > restore, "restore must precede copying the sources");
        Assert.All(Lines[..restore].Where(l => l.StartsWith("COPY ", StringComparison.Ordinal)), l => Assert.Matches(@"(\.csproj|\.props|\.editorconfig)", l));
    }

    [Fact]
    public void Every_project_the_operator_is_built_from_is_copied_before_the_restore_and_after_it()
    {
        var restore = Array.FindIndex(Lines, l => l.StartsWith("RUN dotnet restore", StringComparison.Ordinal));
        var projects = new SortedSet<string>(StringComparer.Ordinal);
        void Add(string name)
        {
            if (!projects.Add(name))
                return;
            var csproj = File.ReadAllText(Path.Combine(Repository.Root, "src", name, name + ".csproj"));
            foreach (System.Text.RegularExpressions.Match reference in System.Text.RegularExpressions.Regex.Matches(csproj, @"ProjectReference Include=""\.\.\\([^\\]+)\\"))
                Add(reference.Groups[1].Value);
        }

        Add("KeyRotator.Operator");

        Assert.Contains("KeyRotator.ExternalJwt", projects);
        Assert.All(projects, p => Assert.Contains($"COPY src/{p}/{p}.csproj src/{p}/", Lines[..restore]));
        Assert.All(projects, p => Assert.Contains($"COPY src/{p}/ src/{p}/", Lines[restore..]));
    }

    [Fact]
    public async Task The_entry_point_exists_in_the_publish_output()
    {
        var output = Directory.CreateTempSubdirectory("keyrotator-publish-").FullName;
        try
        {
            var (code, log) = await Repository.RunAsync("dotnet", "publish", "src/KeyRotator.Operator/KeyRotator.Operator.csproj", "-c", "Release", "-o", output, "/p:UseAppHost=false", "-nologo");
            Assert.True(code == 0, log);
            Assert.True(File.Exists(Path.Combine(output, "KeyRotator.Operator.dll")));
            Assert.True(File.Exists(Path.Combine(output, "KeyRotator.Operator.runtimeconfig.json")));
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }
}
