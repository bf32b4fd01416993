using System.Text.RegularExpressions;

namespace KeyRotator.Core.Tests.Docs;

/// <summary>
/// The names a repository declares, read from its C# sources (src/, tests/, samples/, bench/) and CRDs: types
/// with the files that declare them, members (properties, methods, constants, fields, enum members),
/// namespaces, and the values the code and the CRDs define (PascalCase string literals in src/, CRD enum
/// values and kinds, the chart's alert names), which is what condition reasons, Event reasons and spec values are.
/// </summary>
internal sealed partial record CodeNames(
    IReadOnlyDictionary<string, List<string>> Types,
    IReadOnlySet<string> Members,
    IReadOnlySet<string> Namespaces,
    IReadOnlySet<string> Values)
{
    private static readonly string[] SourceFolders = ["src", "tests", "samples", "bench"];

    public static CodeNames Read(string root)
    {
        var types = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var members = new HashSet<string>(StringComparer.Ordinal);
        var namespaces = new HashSet<string>(StringComparer.Ordinal);
        var values = new HashSet<string>(StringComparer.Ordinal);
        foreach (var folder in SourceFolders.Select(f => Path.Combine(root, f)).Where(Directory.Exists))
        {
            foreach (var file in Directory.EnumerateFiles(folder, "*.cs", SearchOption.AllDirectories))
            {
                if (file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                    || file.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
                    continue;
                var text = File.ReadAllText(file);
                foreach (Match m in TypeDeclaration().Matches(text))
                {
                    var name = m.Groups[1].Value;
                    if (!types.TryGetValue(name, out var files))
                        types[name] = files = [];
                    files.Add(file);
                }

                foreach (var regex in new[] { Property(), Method(), Constant(), Field() })
                {
                    foreach (Match m in regex.Matches(text))
                        members.Add(m.Groups[1].Value);
                }

                foreach (Match m in EnumBody().Matches(text))
                {
                    foreach (var member in m.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                        members.Add(Identifier().Match(member.Split('=')[0].Trim().Split('\n')[^1].Trim()).Value);
                }

                foreach (Match m in Namespace().Matches(text))
                {
                    var parts = m.Groups[1].Value.Split('.');
                    for (var i = 1; i <= parts.Length; i++)
                        namespaces.Add(string.Join('.', parts[..i]));
                }

                if (file.StartsWith(Path.Combine(root, "src"), StringComparison.Ordinal))
                {
                    foreach (Match m in StringValue().Matches(text))
                        values.Add(m.Groups[1].Value);
                }
            }
        }

        foreach (var crd in Directory.Exists(Path.Combine(root, "config", "crds")) ? Directory.GetFiles(Path.Combine(root, "config", "crds"), "*.yaml") : [])
        {
            var text = File.ReadAllText(crd);
            foreach (Match m in CrdEnum().Matches(text))
                values.UnionWith(m.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries));
            foreach (Match m in CrdKind().Matches(text))
                values.Add(m.Groups[1].Value);
        }

        foreach (var rules in Directory.Exists(Path.Combine(root, "charts")) ? Directory.GetFiles(Path.Combine(root, "charts"), "*.yaml", SearchOption.AllDirectories) : [])
        {
            foreach (Match m in AlertName().Matches(File.ReadAllText(rules)))
                values.Add(m.Groups[1].Value);
        }

        return new CodeNames(types, members, namespaces, values);
    }

    [GeneratedRegex(@"\b(?:class|record|struct|interface|enum)\s+(?:struct\s+|class\s+)?([A-Z]\w*)")]
    private static partial Regex TypeDeclaration();

    [GeneratedRegex(@"\b([A-Z]\w*)\s*\{\s*(?:get|set|init)\b")]
    private static partial Regex Property();

    [GeneratedRegex(@"\b(?:public|internal|private|protected)\b[^;{}=()\n]*\s([A-Z]\w*)\s*(?:<[^>()]*>)?\s*\(")]
    private static partial Regex Method();

    [GeneratedRegex(@"\bconst\s+[\w?]+\s+([A-Z]\w*)")]
    private static partial Regex Constant();

    [GeneratedRegex(@"\bstatic\s+readonly\s+[^=;(]+?\s([A-Z]\w*)\s*[=;]")]
    private static partial Regex Field();

    [GeneratedRegex(@"\benum\s+\w+\s*(?::\s*\w+\s*)?\{([^}]*)\}")]
    private static partial Regex EnumBody();

    [GeneratedRegex(@"[A-Za-z_]\w*")]
    private static partial Regex Identifier();

    [GeneratedRegex(@"^namespace\s+([\w.]+)", RegexOptions.Multiline)]
    private static partial Regex Namespace();

    [GeneratedRegex(@"""([A-Z][A-Za-z0-9]+)""")]
    private static partial Regex StringValue();

    [GeneratedRegex(@"^\s*-?\s*alert:\s*([A-Z]\w*)\s*$", RegexOptions.Multiline)]
    private static partial Regex AlertName();

    [GeneratedRegex(@"enum:\s*\[([^\]]*)\]")]
    private static partial Regex CrdEnum();

    [GeneratedRegex(@"^\s+kind:\s*([A-Z]\w*)\s*$", RegexOptions.Multiline)]
    private static partial Regex CrdKind();
}
