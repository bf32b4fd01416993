using System.Text.RegularExpressions;

namespace KeyRotator.Core.Tests.Docs;

/// <summary>
/// The pages' claims are true of the repository: every file README.md, CONTRIBUTING.md, docs/*.md and the chart's README link to
/// or name in backticks exists (and every heading a link points at), and every backticked PascalCase name
/// exists in the code (a type or member declared in src/ or tests/, a name the code emits, a value the CRDs
/// define) or is on the short list of Kubernetes kinds and other projects' types below. Code blocks are not
/// read: they are examples in other languages, not claims about this repository.
/// </summary>
public sealed partial class DocumentedNamesTests
{
    /// <summary>Kubernetes kinds and API terms the pages name that are not declared in this repository.</summary>
    private static readonly HashSet<string> KubernetesKinds =
    [
        "ConfigMap", "ClusterRole", "ClusterRoleBinding", "RoleBinding", "ServiceAccount", "CustomResourceDefinition",
        "TokenReview", "SubjectAccessReview", "PodDisruptionBudget", "ServiceMonitor", "PrometheusRule",
        "RequestAuthentication", "ClusterIssuer", "RetryOnConflict", "SigningKeySetList",
    ];

    /// <summary>Names from other projects the pages cite: each says where it comes from.</summary>
    private static readonly HashSet<string> OtherProjectsTypes =
    [
        "DefaultAzureCredential", "WorkloadIdentityCredential", "CryptographyClient", "SignDataAsync", "HttpPipeline", // Azure SDK
        "ConfigurationManager", "JsonWebTokenHandler", "JsonWebTokenHandler.ValidateTokenAsync", "SignatureProvider", // Microsoft.IdentityModel
        "TimeProvider", "FakeTimeProvider", // .NET
        "DisableHttp2", "HttpOperationException", "KubernetesClient.Aot", // KubernetesClient
        "PyJWKClient", // PyJWT
        "Http2Stream.WaitForData", // System.Net.Http internals, in a profile
        "ValidateWithLeeway", // go-jose
        "WithAuthenticationAndAuthorization", // controller-runtime's metrics filter
        "AddQuartz", "CronExpression", "GetNextValidTimeAfter", // Quartz.NET
        "KubernetesJson", "KubernetesYaml", "GenericClient", "WatcherExt", "WatchEventType", "V1PatchJsonConverter", "LeaderElector", "LeaseLock", // KubernetesClient
        "PublishAot", "JsonSerializerContext", "JsonSerializerOptions", "DefaultJsonTypeInfoResolver", "JsonStringEnumConverter", "MakeGenericType", // .NET, System.Text.Json
        "IsAotCompatible", "Utf8JsonWriter", "JsonSerializer.SerializeToElement", "ConfigureHttpJsonOptions", // .NET, System.Text.Json, ASP.NET Core
        "FindObjects", "GenerateKeyPair", "DestroyObject", "OpenSession", // PKCS#11 (Pkcs11Interop)
        "PrometheusHandler", // the .NET runtime's Prometheus-style handler name in a trace
        "ExternalJWTSigner", "KeyRotator.ExternalJwt", // Kubernetes' external signer service, generated at build time from src/KeyRotator.ExternalJwt/externaljwt.proto
        "FailedPrecondition", "Utf8JsonWriter", // gRPC status codes, System.Text.Json
    ];

    private static readonly string[] RepositoryRoots = ["src/", "tests/", "docs/", "hack/", "samples/", "config/", "charts/", "bench/", ".ci/"];

    public static TheoryData<string> Pages()
    {
        var data = new TheoryData<string>("README.md", "CONTRIBUTING.md", "charts/keyrotator/README.md");
        foreach (var page in Directory.GetFiles(Path.Combine(Root, "docs"), "*.md").Order(StringComparer.Ordinal))
            data.Add("docs/" + Path.GetFileName(page));
        return data;
    }

    [Theory]
    [MemberData(nameof(Pages))]
    public void Every_file_and_heading_the_page_links_to_exists(string page) =>
        Assert.Empty(BrokenLinks(Root, page));

    [Theory]
    [MemberData(nameof(Pages))]
    public void Every_path_the_page_names_in_backticks_exists(string page) =>
        Assert.Empty(MissingPaths(Root, page));

    [Theory]
    [MemberData(nameof(Pages))]
    public void Every_PascalCase_name_the_page_names_in_backticks_exists_in_the_code(string page) =>
        Assert.Empty(UnknownNames(Code.Value, Root, page));

    [Fact]
    public void A_planted_wrong_path_link_and_type_are_each_found()
    {
        var root = Directory.CreateTempSubdirectory("keyrotator-docs-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "docs"));
            Directory.CreateDirectory(Path.Combine(root, "src", "A"));
            File.WriteAllText(Path.Combine(root, "src", "A", "RotationPlanner.cs"), "namespace A;\npublic sealed class RotationPlanner { public int Plan { get; } }\n");
            File.WriteAllText(Path.Combine(root, "docs", "other.md"), "# Other\n\n## The part\n");
            File.WriteAllText(Path.Combine(root, "docs", "page.md"), string.Join('\n',
                "# Page",
                "The planner is `RotationPlanner` (`RotationPlanner.Plan`) in `src/A/RotationPlanner.cs`; see [the part](other.md#the-part).",
                "Wrong: `RotationPlaner`, `RotationPlanner.Execute`, `src/A/Missing.cs`, [gone](missing.md), [no heading](other.md#nowhere).",
                "```csharp",
                "var x = new NotInTheRepository(); // code blocks are examples, not claims: `NotChecked`",
                "```"));
            var code = CodeNames.Read(root);

            Assert.Equal(["missing.md", "other.md#nowhere"], BrokenLinks(root, "docs/page.md"));
            Assert.Equal(["src/A/Missing.cs"], MissingPaths(root, "docs/page.md"));
            Assert.Equal(["RotationPlaner", "RotationPlanner.Execute"], UnknownNames(code, root, "docs/page.md"));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static string Root { get; } = FindRoot();

    private static readonly Lazy<CodeNames> Code = new(() => CodeNames.Read(Root));

    private static List<string> BrokenLinks(string root, string page)
    {
        var directory = Path.GetDirectoryName(Path.Combine(root, page))!;
        var broken = new List<string>();
        foreach (Match link in MarkdownLink().Matches(Prose(root, page)))
        {
            var target = link.Groups[1].Value;
            if (target.StartsWith("http://", StringComparison.Ordinal) || target.StartsWith("https://", StringComparison.Ordinal) || target.StartsWith("mailto:", StringComparison.Ordinal))
                continue;
            var hash = target.IndexOf('#', StringComparison.Ordinal);
            var (path, anchor) = hash < 0 ? (target, null) : (target[..hash], target[(hash + 1)..]);
            var file = path.Length == 0 ? Path.Combine(root, page) : Path.GetFullPath(Path.Combine(directory, path));
            if (!InRepository(root, file) || (!File.Exists(file) && !Directory.Exists(file)))
                broken.Add(target);
            else if (anchor is not null && file.EndsWith(".md", StringComparison.Ordinal) && !Headings(File.ReadAllText(file)).Contains(anchor))
                broken.Add(target);
        }

        return broken;
    }

    private static List<string> MissingPaths(string root, string page)
    {
        var directory = Path.GetDirectoryName(Path.Combine(root, page))!;
        return [.. Spans(root, page).Where(LooksLikeRepositoryPath).Where(span =>
        {
            var fromRoot = Path.GetFullPath(Path.Combine(root, span));
            var fromPage = Path.GetFullPath(Path.Combine(directory, span));
            return !new[] { fromRoot, fromPage }.Any(p => InRepository(root, p) && (File.Exists(p) || Directory.Exists(p)));
        }).Distinct()];
    }

    private static List<string> UnknownNames(CodeNames code, string root, string page) =>
        [.. Spans(root, page).Where(span => PascalName().IsMatch(span)).Where(span => !Known(code, span)).Distinct()];

    private static bool Known(CodeNames code, string name)
    {
        if (KubernetesKinds.Contains(name) || OtherProjectsTypes.Contains(name) || code.Namespaces.Contains(name) || code.Values.Contains(name))
            return true;
        var dot = name.IndexOf('.', StringComparison.Ordinal);
        // Namespace.Type (a fully qualified name): the namespace is declared and the rest is known.
        for (var at = name.LastIndexOf('.'); at > 0; at = name.LastIndexOf('.', at - 1))
        {
            if (code.Namespaces.Contains(name[..at]) && code.Types.ContainsKey(name[(at + 1)..]))
                return true;
        }

        if (dot < 0)
            return code.Types.ContainsKey(name) || code.Members.Contains(name);
        // Type.Member: the type is declared, and the member is declared in a file that declares the type.
        var (type, member) = (name[..dot], name[(dot + 1)..]);
        return !member.Contains('.', StringComparison.Ordinal) && code.Types.TryGetValue(type, out var files)
            && files.Any(f => Regex.IsMatch(File.ReadAllText(f), $@"\b{Regex.Escape(member)}\b"));
    }

    private static bool LooksLikeRepositoryPath(string span) =>
        !span.Any(c => char.IsWhiteSpace(c) || "<>{}*…|$:=\"'".Contains(c))
        && (RepositoryRoots.Any(r => span.StartsWith(r, StringComparison.Ordinal))
            || span.StartsWith("../", StringComparison.Ordinal)
            || span is "README.md" or "CONTRIBUTING.md" or "KeyRotator.sln" or "Dockerfile");

    private static bool InRepository(string root, string path) =>
        Path.GetFullPath(path).StartsWith(Path.GetFullPath(root).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    /// <summary>The page without its fenced code blocks.</summary>
    private static string Prose(string root, string page) => FencedBlock().Replace(File.ReadAllText(Path.Combine(root, page)), "");

    private static IEnumerable<string> Spans(string root, string page) =>
        InlineCode().Matches(Prose(root, page)).Select(m => m.Groups[1].Value.Trim());

    /// <summary>GitHub's anchors for the page's headings: lower case, punctuation dropped, spaces as dashes.</summary>
    private static HashSet<string> Headings(string markdown) =>
        [.. Heading().Matches(FencedBlock().Replace(markdown, "")).Select(m =>
            Regex.Replace(m.Groups[1].Value.Trim().ToLowerInvariant().Replace("`", "", StringComparison.Ordinal), @"[^\p{L}\p{N}\- _]", "").Replace(' ', '-'))];

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "KeyRotator.sln")))
                return dir.FullName;
        }

        throw new InvalidOperationException("KeyRotator.sln not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"^```.*?^```[^\n]*$", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex FencedBlock();

    [GeneratedRegex(@"\]\(([^)\s]+)\)")]
    private static partial Regex MarkdownLink();

    [GeneratedRegex(@"`([^`\n]+)`")]
    private static partial Regex InlineCode();

    [GeneratedRegex(@"^#{1,6}\s+(.+)$", RegexOptions.Multiline)]
    private static partial Regex Heading();

    /// <summary>A PascalCase word of at least two humps, optionally dotted (a type, Type.Member or a namespace).</summary>
    [GeneratedRegex(@"^[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+(?:\.[A-Z][A-Za-z0-9]*)*$")]
    private static partial Regex PascalName();
}
