using System.Reflection;
using ArchUnitNET.Fluent;
using ArchUnitNET.Loader;
using ArchUnitNET.xUnitV3;
using static ArchUnitNET.Fluent.ArchRuleDefinition;
using Assembly = System.Reflection.Assembly;

namespace KeyRotator.Architecture.Tests;

/// <summary>
/// The dependency rule, read from the compiled assemblies (type-level references, not using lines):
/// dependencies point one way, towards the model. Assemblies: Operator → Core → Model; the CLI and the
/// client library stand on the model alone. Inside the operator, the rooms that already keep the rule
/// are held to it here; the rooms still tangled are listed in docs/architecture.md with the arrows that
/// must go, and each joins this test as it is untangled.
/// </summary>
public sealed class DependencyRuleTests
{
    private static readonly Assembly Model = typeof(KeyRotator.Model.Resources.V1Alpha1SigningKeySet).Assembly;
    private static readonly Assembly Core = typeof(KeyRotator.Core.Lifecycle.RotationPlanner).Assembly;
    private static readonly Assembly Operator = typeof(KeyRotator.Operator.Controllers.SigningKeySetReconciler).Assembly;
    private static readonly Assembly Client = typeof(KeyRotator.Client.FailureReporter).Assembly;
    private static readonly Assembly Cli = typeof(KeyRotator.Cli.CliApp).Assembly;

    private static readonly ArchUnitNET.Domain.Architecture Code = new ArchLoader().LoadAssemblies(Model, Core, Operator, Client, Cli).Build();

    public static TheoryData<string, string[]> AssemblyRules() => new()
    {
        // assembly, the project assemblies it may reference
        { "KeyRotator.Model", [] },
        { "KeyRotator.Core", ["KeyRotator.Model"] },
        { "KeyRotator.Client", ["KeyRotator.Model"] },
        { "KeyRotator.Cli", ["KeyRotator.Model"] },
        { "KeyRotator.Operator", ["KeyRotator.Model", "KeyRotator.Core"] },
    };

    [Theory]
    [MemberData(nameof(AssemblyRules))]
    public void Each_assembly_references_only_the_project_assemblies_below_it(string assembly, string[] allowed)
    {
        var projects = new Dictionary<string, Assembly>
        {
            ["KeyRotator.Model"] = Model,
            ["KeyRotator.Core"] = Core,
            ["KeyRotator.Operator"] = Operator,
            ["KeyRotator.Client"] = Client,
            ["KeyRotator.Cli"] = Cli,
        };
        var names = projects.ToDictionary(p => p.Value.GetName().Name!, p => p.Key);
        var references = projects[assembly].GetReferencedAssemblies().Select(a => a.Name!).Where(names.ContainsKey).Select(n => names[n]).Order().ToList();
        Assert.True(references.All(allowed.Contains), $"{assembly} references {string.Join(", ", references)}; it may reference only {string.Join(", ", allowed)}");
    }

    public static TheoryData<string, string> ForbiddenArrows() => new()
    {
        // from namespace (and below), to namespace (and below): no type of the first may use a type of the second
        { "KeyRotator.Model", "KeyRotator.Core" },
        { "KeyRotator.Core", "KeyRotator.Operator" },
        // The informers (the runtime's watch-and-cache room) know nothing of keys, vaults, publishing or hosting.
        { "KeyRotator.Operator.Informers", "KeyRotator.Operator.Controllers" },
        { "KeyRotator.Operator.Informers", "KeyRotator.Operator.Vault" },
        { "KeyRotator.Operator.Informers", "KeyRotator.Operator.Publishing" },
        { "KeyRotator.Operator.Informers", "KeyRotator.Operator.Observability" },
        { "KeyRotator.Operator.Informers", "KeyRotator.Operator.Serving" },
        { "KeyRotator.Operator.Informers", "KeyRotator.Operator.Hosting" },
        // The vault room never reaches up into the controllers, the HTTP surface or the scheduler.
        { "KeyRotator.Operator.Vault", "KeyRotator.Operator.Controllers" },
        { "KeyRotator.Operator.Vault", "KeyRotator.Operator.Serving" },
        { "KeyRotator.Operator.Vault", "KeyRotator.Operator.Scheduling" },
        { "KeyRotator.Operator.Vault", "KeyRotator.Operator.Publishing" },
        // The vault reads and writes its Secrets through the object client (Runtime), never the cache itself.
        { "KeyRotator.Operator.Vault", "KeyRotator.Operator.Informers" },
        // Publishing writes objects; it does not decide (controllers) or serve (HTTP).
        { "KeyRotator.Operator.Publishing", "KeyRotator.Operator.Controllers" },
        { "KeyRotator.Operator.Publishing", "KeyRotator.Operator.Serving" },
        // The HTTP endpoints, the signal trackers and the scheduler reach the controller only through
        // Runtime's ISigningKeySets (cached reads, "reconcile this set").
        { "KeyRotator.Operator.Serving", "KeyRotator.Operator.Controllers" },
        { "KeyRotator.Operator.Observability", "KeyRotator.Operator.Controllers" },
        // Observability holds the metrics and the signal trackers: it neither writes objects, serves HTTP nor
        // touches keys. The HTTP room (Serving) reads what the trackers hold and never reaches into a vault.
        { "KeyRotator.Operator.Observability", "KeyRotator.Operator.Publishing" },
        { "KeyRotator.Operator.Observability", "KeyRotator.Operator.Serving" },
        { "KeyRotator.Operator.Observability", "KeyRotator.Operator.Vault" },
        { "KeyRotator.Operator.Serving", "KeyRotator.Operator.Vault" },
        { "KeyRotator.Operator.Scheduling", "KeyRotator.Operator.Controllers" },
        // The Kubernetes room (the API client's handlers, Events, ownership) sits under every room that
        // talks to the API server and reaches none of them: the host turns its waits into metrics.
        { "KeyRotator.Operator.Kubernetes", "KeyRotator.Operator.Observability" },
        { "KeyRotator.Operator.Kubernetes", "KeyRotator.Operator.Controllers" },
        { "KeyRotator.Operator.Kubernetes", "KeyRotator.Operator.Vault" },
        { "KeyRotator.Operator.Kubernetes", "KeyRotator.Operator.Publishing" },
        { "KeyRotator.Operator.Kubernetes", "KeyRotator.Operator.Informers" },
        { "KeyRotator.Operator.Kubernetes", "KeyRotator.Operator.Serving" },
        { "KeyRotator.Operator.Kubernetes", "KeyRotator.Operator.Scheduling" },
        { "KeyRotator.Operator.Kubernetes", "KeyRotator.Operator.ServiceAccountSigner" },
        // The service-account signer reads a set and signs: it never reconciles, watches through the
        // operator's informers, serves the operator's HTTP room or schedules (issue #35).
        { "KeyRotator.Operator.ServiceAccountSigner", "KeyRotator.Operator.Controllers" },
        { "KeyRotator.Operator.ServiceAccountSigner", "KeyRotator.Operator.Informers" },
        { "KeyRotator.Operator.ServiceAccountSigner", "KeyRotator.Operator.Serving" },
        { "KeyRotator.Operator.ServiceAccountSigner", "KeyRotator.Operator.Scheduling" },
        { "KeyRotator.Operator.Vault", "KeyRotator.Operator.ServiceAccountSigner" },
        { "KeyRotator.Operator.Publishing", "KeyRotator.Operator.ServiceAccountSigner" },
    };

    /// <summary>The rooms of the operator below Hosting, which composes them.</summary>
    private static readonly string[] Rooms = ["Controllers", "Informers", "Kubernetes", "Observability", "Publishing", "Scheduling", "Serving", "Vault", "ServiceAccountSigner", "Configuration", "Runtime"];

    public static TheoryData<string, string> HostingArrows()
    {
        var arrows = new TheoryData<string, string>();
        // Hosting composes the rooms (dependency injection, leader election, health); no room reaches back up.
        foreach (var room in Rooms)
            arrows.Add($"KeyRotator.Operator.{room}", "KeyRotator.Operator.Hosting");
        // Configuration (the options read from configuration) and Runtime (set keys, the work queue, the
        // controller's face to the other rooms) are leaves: they use no other room.
        foreach (var leaf in new[] { "Configuration", "Runtime" })
        {
            foreach (var room in Rooms.Where(r => r != leaf))
                arrows.Add($"KeyRotator.Operator.{leaf}", $"KeyRotator.Operator.{room}");
        }
        return arrows;
    }

    [Theory]
    [MemberData(nameof(HostingArrows))]
    public void Hosting_composes_the_rooms_and_no_room_reaches_back_up(string from, string to) => No_arrow_runs_back(from, to);

    [Theory]
    [MemberData(nameof(ForbiddenArrows))]
    public void No_arrow_runs_back(string from, string to)
    {
        IArchRule rule = Types().That().ResideInNamespaceOrBelow(from)
            .Should().NotDependOnAny(Types().That().ResideInNamespaceOrBelow(to))
            .Because($"dependencies point from {from} towards the model, never back to {to}");
        rule.Check(Code);
    }
}
