using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace KeyRotator.Architecture.Tests;

/// <summary>
/// The room-to-room dependencies of a project, read from its source files with Roslyn's semantic model
/// rather than from the compiled assembly. IL cannot see what the compiler inlined (a <c>const</c>, an
/// enum member, a default parameter value, <c>nameof</c>, an attribute argument) nor a <c>using</c>;
/// the source can. A room is a folder directly under the project (the project's root files are the
/// project's own room); every name in a file that resolves to a type, a member or a namespace declared
/// in another room is an arrow from the file's room to that one. A referenced type's room is the folder
/// its declaration lives in (for types of this project) or its namespace (for the projects below).
/// </summary>
public sealed class SourceGraph
{
    /// <summary>Name-resolution errors: a name the semantic model could not resolve is an arrow it cannot see.</summary>
    private static readonly ImmutableHashSet<string> Unresolved = ["CS0103", "CS0117", "CS0234", "CS0246", "CS0426", "CS1061", "CS0400"];

    /// <summary>What the SDK imports into every file (ImplicitUsings), per SDK; see Microsoft.NET.Sdk's targets.</summary>
    private static readonly string[] SdkUsings = ["System", "System.Collections.Generic", "System.IO", "System.Linq", "System.Net.Http", "System.Threading", "System.Threading.Tasks"];

    private static readonly string[] WebSdkUsings =
    [
        .. SdkUsings, "System.Net.Http.Json", "Microsoft.AspNetCore.Builder", "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Http",
        "Microsoft.AspNetCore.Routing", "Microsoft.Extensions.Configuration", "Microsoft.Extensions.DependencyInjection",
        "Microsoft.Extensions.Hosting", "Microsoft.Extensions.Logging",
    ];

    private SourceGraph(string project, IReadOnlyList<SourceArrow> arrows, IReadOnlyList<string> unresolvedNames)
    {
        Project = project;
        Arrows = arrows;
        UnresolvedNames = unresolvedNames;
    }

    /// <summary>The project's root namespace (the folder name under src/).</summary>
    public string Project { get; }

    /// <summary>Every reference from one room to another, with where it is.</summary>
    public IReadOnlyList<SourceArrow> Arrows { get; }

    /// <summary>Names the semantic model could not resolve (each with file and line); empty when the graph is complete.</summary>
    public IReadOnlyList<string> UnresolvedNames { get; }

    /// <summary>Reads the project src/<paramref name="project"/> of the repository at <paramref name="root"/>.</summary>
    public static SourceGraph OfProject(string root, string project)
    {
        var directory = Path.Combine(root, "src", project);
        var csproj = File.ReadAllText(Path.Combine(directory, project + ".csproj"));
        var usings = csproj.Contains("Sdk=\"Microsoft.NET.Sdk.Web\"", StringComparison.Ordinal) ? WebSdkUsings : SdkUsings;
        var files = Directory.EnumerateFiles(directory, "*.cs", SearchOption.AllDirectories)
            .Where(f => !IsBuildOutput(Path.GetRelativePath(directory, f)))
            .Select(f => (Path.GetRelativePath(directory, f), File.ReadAllText(f)))
            .ToList();
        return Read(project, files, usings, References(except: project));
    }

    /// <summary>Reads <paramref name="files"/> (path relative to the project, text) as the project <paramref name="project"/>.</summary>
    public static SourceGraph Read(string project, IReadOnlyList<(string Path, string Text)> files, IReadOnlyList<string> globalUsings, IReadOnlyList<MetadataReference> references)
    {
        var options = new CSharpParseOptions(LanguageVersion.Preview);
        var implicitUsings = CSharpSyntaxTree.ParseText(
            string.Concat(globalUsings.Select(u => $"global using global::{u};\n")), options, path: "<implicit usings>");
        var trees = files.Select(f => CSharpSyntaxTree.ParseText(f.Text, options, path: f.Path)).ToList();
        var compilation = CSharpCompilation.Create(
            project, [implicitUsings, .. trees], references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable, allowUnsafe: true));

        var unresolved = compilation.GetDiagnostics()
            .Where(d => Unresolved.Contains(d.Id) && !IsGeneratedJsonMember(compilation, d))
            .Select(d => $"{d.Location.GetLineSpan().Path}:{d.Location.GetLineSpan().StartLinePosition.Line + 1}: {d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)}")
            .ToList();

        var arrows = new List<SourceArrow>();
        foreach (var tree in trees)
        {
            var model = compilation.GetSemanticModel(tree);
            var from = RoomOfFile(project, tree.FilePath);
            foreach (var node in tree.GetRoot().DescendantNodes())
            {
                foreach (var symbol in Referenced(model, node))
                {
                    var to = RoomOf(project, symbol);
                    if (to is null || to == from)
                        continue;
                    var line = node.GetLocation().GetLineSpan().StartLinePosition.Line + 1;
                    arrows.Add(new SourceArrow(from, to, $"{project}/{tree.FilePath}:{line}", node.ToString()));
                }
            }
        }

        return new SourceGraph(project, arrows, unresolved);
    }

    /// <summary>
    /// A member that System.Text.Json's source generator adds to a <c>JsonSerializerContext</c> (<c>Default</c>,
    /// a <c>JsonTypeInfo</c> per type), which this reader does not run: named on such a context or inside one.
    /// It hides no arrow: the context's own name resolves, and the types it serves are named in its attributes.
    /// </summary>
    private static bool IsGeneratedJsonMember(Compilation compilation, Diagnostic diagnostic)
    {
        if (diagnostic.Location.SourceTree is not { } tree)
            return false;
        var model = compilation.GetSemanticModel(tree);
        var node = tree.GetRoot().FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true);
        var context = node.Parent is MemberAccessExpressionSyntax access && access.Name == node
            ? model.GetSymbolInfo(access.Expression).Symbol as ITypeSymbol ?? model.GetTypeInfo(access.Expression).Type
            : model.GetEnclosingSymbol(node.SpanStart)?.ContainingType;
        for (var type = context; type is not null; type = type.BaseType)
        {
            if (type.ToDisplayString() == "System.Text.Json.Serialization.JsonSerializerContext")
                return true;
        }

        return false;
    }

    /// <summary>Every assembly this test process can load, except the one being read from source.</summary>
    public static IReadOnlyList<MetadataReference> References(string except) =>
        Loadable.Where(r => !string.Equals(r.Name, except, StringComparison.Ordinal)).Select(r => r.Reference).ToList();

    private static readonly List<(string Name, MetadataReference Reference)> Loadable =
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Select(p => (Path.GetFileNameWithoutExtension(p), (MetadataReference)MetadataReference.CreateFromFile(p)))
            .ToList();

    /// <summary>The room of a file: its first folder under the project, or the project itself for a root file.</summary>
    public static string RoomOfFile(string project, string relativePath)
    {
        var folders = relativePath.Split('/', '\\');
        return folders.Length > 1 ? $"{project}.{folders[0]}" : project;
    }

    private static bool IsBuildOutput(string relativePath) =>
        relativePath.Split('/', '\\')[0] is "obj" or "bin";

    /// <summary>What a name (or an unnamed <c>new()</c>) refers to; a failed overload resolution still names its candidates.</summary>
    private static ImmutableArray<ISymbol> Referenced(SemanticModel model, SyntaxNode node)
    {
        switch (node)
        {
            case SimpleNameSyntax:
                var info = model.GetSymbolInfo(node);
                if (info.Symbol is { } symbol)
                    return [symbol];
                // A name used as a namespace or type in a using directive or a qualified name.
                if (info.CandidateSymbols.Length > 0)
                    return info.CandidateSymbols;
                return model.GetTypeInfo(node).Type is { TypeKind: not TypeKind.Error } type ? [type] : [];
            case ImplicitObjectCreationExpressionSyntax:
                return model.GetTypeInfo(node).Type is { } created ? [created] : [];
            default:
                return [];
        }
    }

    /// <summary>The room a symbol lives in, or null when it is not this repository's (or is a local, a parameter, a type parameter).</summary>
    private static string? RoomOf(string project, ISymbol symbol)
    {
        var declaring = symbol switch
        {
            INamespaceSymbol space => (ISymbol)space,
            INamedTypeSymbol type => type.OriginalDefinition,
            IMethodSymbol { ReducedFrom: { } extension } => extension.ContainingType,
            IMethodSymbol or IFieldSymbol or IPropertySymbol or IEventSymbol => symbol.ContainingType?.OriginalDefinition,
            _ => null,
        };
        if (declaring is null)
            return null;

        if (declaring is INamespaceSymbol named)
        {
            // A namespace named in a using or as the left part of a qualified name: its room, if it is one.
            var name = named.ToDisplayString();
            if (name.StartsWith(project + ".", StringComparison.Ordinal))
                return $"{project}.{name[(project.Length + 1)..].Split('.')[0]}";
            var parts = name.Split('.');
            return parts.Length >= 3 && parts[0] == "KeyRotator" ? string.Join('.', parts.Take(3)) : null;
        }

        // A type of this project: the folder its declaration is in, whatever namespace it claims.
        var source = declaring.Locations.FirstOrDefault(l => l.IsInSource && !l.SourceTree!.FilePath.StartsWith('<'));
        if (source is not null)
            return RoomOfFile(project, source.SourceTree!.FilePath);

        var ns = declaring.ContainingNamespace?.ToDisplayString() ?? "";
        if (!ns.StartsWith("KeyRotator.", StringComparison.Ordinal) && ns != "KeyRotator")
            return null;
        return string.Join('.', ns.Split('.').Take(3));
    }
}
