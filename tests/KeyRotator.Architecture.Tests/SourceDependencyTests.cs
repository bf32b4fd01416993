namespace KeyRotator.Architecture.Tests;

/// <summary>
/// The dependency rule read from the source files, beside <see cref="DependencyRuleTests"/>, which reads
/// the compiled assemblies. The compiler inlines constants, enum members, default parameter values and
/// nameof, and drops usings, so an arrow made only of those is invisible in IL: Configuration once used a
/// Vault constant while Vault used Configuration, and the IL rules passed. Here every name in every file of
/// src/ counts, and the rooms (folders) form no cycle and keep the same forbidden arrows as the IL rules.
/// </summary>
public sealed class SourceDependencyTests
{
    private static readonly string[] Projects = ["KeyRotator.Model", "KeyRotator.Core", "KeyRotator.Operator", "KeyRotator.Client", "KeyRotator.Cli"];

    private static readonly Lazy<IReadOnlyList<SourceGraph>> Graphs = new(() => Projects.Select(p => SourceGraph.OfProject(RepositoryRoot.Path, p)).ToList());

    private static IEnumerable<SourceArrow> Arrows => Graphs.Value.SelectMany(g => g.Arrows);

    [Fact]
    public void Every_name_in_src_resolves_so_no_arrow_is_hidden()
    {
        var unresolved = Graphs.Value.SelectMany(g => g.UnresolvedNames.Select(n => $"{g.Project}/{n}")).ToList();
        Assert.True(unresolved.Count == 0, "the source graph cannot see what these names refer to:\n" + string.Join("\n", unresolved.Take(40)));
        Assert.Contains(Arrows, a => a is { From: "KeyRotator.Operator.Hosting", To: "KeyRotator.Operator.Configuration" });
    }

    [Fact]
    public void No_two_rooms_depend_on_each_other_in_source()
    {
        var cycles = Cycles(Arrows.ToList());
        Assert.True(cycles.Count == 0, "rooms that reach each other (a cycle), with one reference per arrow:\n" + string.Join("\n\n", cycles));
    }

    [Theory]
    [MemberData(nameof(DependencyRuleTests.HostingArrows), MemberType = typeof(DependencyRuleTests))]
    public void Hosting_composes_the_rooms_and_no_room_reaches_back_up_in_source(string from, string to) => No_arrow_runs_back_in_source(from, to);

    [Theory]
    [MemberData(nameof(DependencyRuleTests.ForbiddenArrows), MemberType = typeof(DependencyRuleTests))]
    public void No_arrow_runs_back_in_source(string from, string to)
    {
        var back = Arrows.Where(a => IsAtOrBelow(a.From, from) && IsAtOrBelow(a.To, to)).Select(a => a.ToString()).Distinct().ToList();
        Assert.True(back.Count == 0, $"dependencies point from {from} towards the model, never back to {to}:\n" + string.Join("\n", back.Take(20)));
    }

    [Fact]
    public void Each_file_declares_the_namespace_of_its_folder()
    {
        var misplaced = new List<string>();
        foreach (var project in Projects)
        {
            var directory = Path.Combine(RepositoryRoot.Path, "src", project);
            foreach (var file in Directory.EnumerateFiles(directory, "*.cs", SearchOption.AllDirectories))
            {
                var relative = Path.GetRelativePath(directory, file);
                if (relative.Split(Path.DirectorySeparatorChar)[0] is "obj" or "bin")
                    continue;
                var folder = Path.GetDirectoryName(relative)!;
                var expected = folder.Length == 0 ? project : $"{project}.{folder.Replace(Path.DirectorySeparatorChar, '.')}";
                var declared = File.ReadLines(file).FirstOrDefault(l => l.StartsWith("namespace ", StringComparison.Ordinal));
                // Top-level statements (Program.cs) sit in the global namespace, at the project's root.
                if (declared is null ? folder.Length != 0 : declared != $"namespace {expected};")
                    misplaced.Add($"{project}/{relative}: {declared ?? "no namespace"}, expected namespace {expected};");
            }
        }

        Assert.True(misplaced.Count == 0, "namespaces follow folders (one file-scoped namespace each):\n" + string.Join("\n", misplaced));
    }

    /// <summary>The reader itself: what IL cannot see, it must.</summary>
    [Fact]
    public void A_cycle_made_of_inlined_names_and_usings_is_found()
    {
        (string, string)[] files =
        [
            ("Alpha/Limits.cs", "namespace P.Alpha;\npublic static class Limits { public const int Max = P.Beta.Defaults.Max; }"),
            ("Beta/Defaults.cs", "using P.Gamma;\nnamespace P.Beta;\npublic static class Defaults { public const int Max = 20; }"),
            ("Beta/Reader.cs", "namespace P.Beta;\npublic sealed class Reader { public string Name => nameof(P.Alpha.Limits); }"),
            ("Gamma/Kind.cs", "namespace P.Gamma;\npublic enum Kind { A }"),
            ("Gamma/Uses.cs", "namespace P.Gamma;\npublic static class Uses { public static int Of(Kind k = Kind.A) => (int)k; }"),
        ];
        var graph = SourceGraph.Read("P", files, SourceGraphUsings, SourceGraph.References(except: "P"));

        Assert.Empty(graph.UnresolvedNames);
        var arrows = graph.Arrows.Select(a => (a.From, a.To)).Distinct().Order().ToList();
        Assert.Equal([("P.Alpha", "P.Beta"), ("P.Beta", "P.Alpha"), ("P.Beta", "P.Gamma")], arrows);
        Assert.Single(Cycles(graph.Arrows.ToList()));
    }

    private static readonly string[] SourceGraphUsings = ["System"];

    private static bool IsAtOrBelow(string room, string ns) =>
        room == ns || room.StartsWith(ns + ".", StringComparison.Ordinal);

    /// <summary>The strongly connected components of more than one room (Tarjan), each with one reference per arrow inside it.</summary>
    private static List<string> Cycles(List<SourceArrow> arrows)
    {
        var edges = arrows.GroupBy(a => a.From).ToDictionary(g => g.Key, g => g.Select(a => a.To).Distinct().Order(StringComparer.Ordinal).ToList());
        var index = new Dictionary<string, int>();
        var low = new Dictionary<string, int>();
        var stack = new Stack<string>();
        var components = new List<List<string>>();

        void Visit(string room)
        {
            index[room] = low[room] = index.Count;
            stack.Push(room);
            foreach (var next in edges.GetValueOrDefault(room, []))
            {
                if (!index.TryGetValue(next, out var seen))
                {
                    Visit(next);
                    low[room] = Math.Min(low[room], low[next]);
                }
                else if (stack.Contains(next))
                {
                    low[room] = Math.Min(low[room], seen);
                }
            }

            if (low[room] != index[room])
                return;
            var component = new List<string>();
            string member;
            do
            {
                member = stack.Pop();
                component.Add(member);
            }
            while (member != room);
            if (component.Count > 1)
                components.Add(component);
        }

        foreach (var room in edges.Keys.Order(StringComparer.Ordinal))
        {
            if (!index.ContainsKey(room))
                Visit(room);
        }

        return components.Select(c => string.Join("\n", arrows
                .Where(a => c.Contains(a.From) && c.Contains(a.To))
                .GroupBy(a => (a.From, a.To))
                .Select(g => "  " + g.First())))
            .ToList();
    }
}
