namespace KeyRotator.Operator.Tests.Architecture;

/// <summary>
/// No file in src/ grows past 300 lines unless its header says why ("Longer than 300 lines …"): a long
/// file is a room that wants splitting, or a choice someone made on purpose and wrote down.
/// </summary>
public sealed class SourceSizeTests
{
    private const int Limit = 300;

    [Fact]
    public void No_source_file_is_longer_than_300_lines_without_a_stated_reason()
    {
        var root = RepositoryRoot();
        var files = Directory.EnumerateFiles(Path.Combine(root, "src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToList();
        Assert.NotEmpty(files);

        var unexplained = files
            .Select(f => (File: Path.GetRelativePath(root, f), Lines: File.ReadAllLines(f)))
            .Where(f => f.Lines.Length > Limit && !f.Lines.Take(60).Any(l => l.Contains("Longer than 300 lines", StringComparison.Ordinal)))
            .Select(f => $"{f.File}: {f.Lines.Length} lines")
            .ToList();

        Assert.True(unexplained.Count == 0, "split these, or say in the header comment why not (\"Longer than 300 lines …\"):\n" + string.Join("\n", unexplained));
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "KeyRotator.sln")))
                return dir.FullName;
        }

        throw new InvalidOperationException($"no KeyRotator.sln above {AppContext.BaseDirectory}");
    }
}
