namespace KeyRotator.Architecture.Tests;

/// <summary>The checkout the tests were built from: the first folder above the test binaries with KeyRotator.sln.</summary>
public static class RepositoryRoot
{
    public static string Path { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "KeyRotator.sln")))
                return dir.FullName;
        }

        throw new InvalidOperationException($"no KeyRotator.sln above {AppContext.BaseDirectory}");
    }
}
