namespace KeyRotator.Architecture.Tests;

/// <summary>
/// No C# file of the repository (src/, tests/, bench/, samples/) grows past 300 lines unless its header
/// says why ("Longer than 300 lines …"): a long file is a room that wants splitting, or a choice someone
/// made on purpose and wrote down. Test files and fakes count: a 700-line fake is as hard to read as a
/// 700-line reconciler.
/// </summary>
public sealed class SourceSizeTests
{
    private const int Limit = 300;

    private static readonly string[] Trees = ["src", "tests", "bench", "samples"];

    [Fact]
    public void No_source_file_is_longer_than_300_lines_without_a_stated_reason()
    {
        var root = RepositoryRoot.Path;
        var files = Trees.Select(t => Path.Combine(root, t)).Where(Directory.Exists)
            .SelectMany(t => Directory.EnumerateFiles(t, "*.cs", SearchOption.AllDirectories))
            .Where(f => !Path.GetRelativePath(root, f).Split(Path.DirectorySeparatorChar).Any(d => d is "obj" or "bin" or "node_modules"))
            .ToList();
        Assert.Contains(files, f => f.StartsWith(Path.Combine(root, "src") + Path.DirectorySeparatorChar, StringComparison.Ordinal));
        Assert.Contains(files, f => f.StartsWith(Path.Combine(root, "tests") + Path.DirectorySeparatorChar, StringComparison.Ordinal));

        var unexplained = files
            .Select(f => (File: Path.GetRelativePath(root, f), Lines: File.ReadAllLines(f)))
            .Where(f => f.Lines.Length > Limit && !f.Lines.Take(60).Any(l => l.Contains("Longer than 300 lines", StringComparison.Ordinal)))
            .Select(f => $"{f.File}: {f.Lines.Length} lines")
            .ToList();

        Assert.True(unexplained.Count == 0, "split these, or say in the header comment why not (\"Longer than 300 lines …\"):\n" + string.Join("\n", unexplained));
    }
}
