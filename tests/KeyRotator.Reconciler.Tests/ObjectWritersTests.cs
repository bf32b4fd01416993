using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.CompilerServices;
using KeyRotator.Operator.Controllers;
using KeyRotator.Operator.Informers;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Observability;
using KeyRotator.Operator.Publishing;
using KeyRotator.Operator.Runtime;
using KeyRotator.Operator.Serving;
using KeyRotator.Operator.Vault;
using Xunit;

namespace KeyRotator.Reconciler.Tests;

/// <summary>
/// Every write of a set's objects goes through the writers docs/architecture.md's object table names: the
/// operator's IL is read, and a call to a write of the object client, of the raw Kubernetes client, to the
/// Event recorder or to a per-set metric from any other type fails the test with the caller named. A new
/// writer is either routed through one of these or added here and to the table, on purpose.
/// </summary>
public sealed class ObjectWritersTests
{
    /// <summary>Each way of writing a set's objects, and the types that may use it.</summary>
    private static readonly (string What, Func<MethodBase, bool> Matches, Type[] Allowed)[] Writes =
    [
        ("a write of the object client", m => m.DeclaringType == typeof(IObjectClient) && m.Name is "CreateAsync" or "ReplaceAsync" or "ReplaceStatusAsync" or "DeleteAsync",
            [typeof(ObjectWriter), typeof(SetClient), typeof(KubernetesKeyStore), typeof(EventRecorder)]),
        ("a write of the raw Kubernetes client", m => m.DeclaringType?.Namespace?.StartsWith("k8s", StringComparison.Ordinal) == true
            && (m.Name.StartsWith("Create", StringComparison.Ordinal) || m.Name.StartsWith("Replace", StringComparison.Ordinal) || m.Name.StartsWith("Patch", StringComparison.Ordinal) || m.Name.StartsWith("Delete", StringComparison.Ordinal))
            && (m.Name.Contains("ConfigMap", StringComparison.Ordinal) || m.Name.Contains("Secret", StringComparison.Ordinal) || m.Name.Contains("Event", StringComparison.Ordinal) || m.Name.Contains("CustomObject", StringComparison.Ordinal)
                || m.DeclaringType.Name.StartsWith("GenericClient", StringComparison.Ordinal)),
            [typeof(ObjectClient)]),
        ("an Event", m => m.DeclaringType == typeof(EventRecorder) && m.Name == nameof(EventRecorder.RecordAsync), [typeof(SetReporter)]),
        ("a per-set metric", m => m.DeclaringType == typeof(OperatorMetrics)
            && m.Name is nameof(OperatorMetrics.ObserveSet) or "get_RotationErrors" or "get_Rotations" or "get_FailureSpike" or "get_SignatureFailures",
            // The report endpoint counts the failures callers report (the HTTP room's, issue #33 item 3).
            [typeof(SetReporter), typeof(OperatorMetrics), typeof(SignatureFailureEndpoint)]),
    ];

    [Fact]
    public void Only_the_named_writers_write_a_sets_objects_events_and_metrics()
    {
        var offenders = WritersOutsideTheirRooms(typeof(ObjectWriter).Assembly);

        Assert.True(offenders.Count == 0, "Writes outside the writers docs/architecture.md names:\n" + string.Join("\n", offenders));
    }

    [Fact]
    public void The_reading_of_the_il_finds_every_allowed_writer()
    {
        // A scan that saw no calls would pass anything: each rule must see the writers it allows.
        var seen = Writers(typeof(ObjectWriter).Assembly).Select(w => (w.What, w.Owner)).ToHashSet();

        foreach (var (what, _, allowed) in Writes)
            Assert.Contains(allowed.Where(a => a != typeof(OperatorMetrics)), a => seen.Contains((what, a)));
        Assert.Contains(("a write of the object client", typeof(ObjectWriter)), seen);
        Assert.Contains(("an Event", typeof(SetReporter)), seen);
    }

    /// <summary>"Caller.Method calls Type.Method (what)" for each write from a type not allowed to make it.</summary>
    internal static List<string> WritersOutsideTheirRooms(Assembly assembly) =>
        [.. Writers(assembly).Where(w => !w.Allowed).Select(w => w.Description)];

    private static IEnumerable<(string What, Type Owner, bool Allowed, string Description)> Writers(Assembly assembly)
    {
        foreach (var type in assembly.GetTypes())
        {
            var owner = Outermost(type);
            foreach (var method in type.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly).Cast<MethodBase>()
                .Concat(type.GetConstructors(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static)))
            {
                foreach (var called in Calls(method))
                {
                    var target = called.IsGenericMethod && called is MethodInfo info ? info.GetGenericMethodDefinition() : called;
                    foreach (var (what, matches, allowed) in Writes)
                    {
                        if (matches(target))
                            yield return (what, owner, allowed.Contains(owner), $"{owner.FullName}.{Describe(type, method)} calls {target.DeclaringType?.Name}.{target.Name} ({what})");
                    }
                }
            }
        }
    }

    /// <summary>The type a lambda, a local function or an async state machine was written in.</summary>
    private static Type Outermost(Type type)
    {
        while (type.DeclaringType is { } declaring && (type.IsDefined(typeof(CompilerGeneratedAttribute)) || type.Name.StartsWith('<')))
            type = declaring;
        return type;
    }

    private static string Describe(Type type, MethodBase method) => type == Outermost(type) ? method.Name : $"{type.Name}.{method.Name}";

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!).ToDictionary(o => o.Value);

    /// <summary>The methods <paramref name="method"/>'s IL calls (call, callvirt, newobj, ldftn: a delegate is a call too).</summary>
    private static IEnumerable<MethodBase> Calls(MethodBase method)
    {
        byte[]? il;
        try
        {
            il = method.GetMethodBody()?.GetILAsByteArray();
        }
        catch (Exception e) when (e is InvalidOperationException or BadImageFormatException)
        {
            il = null;
        }

        if (il is null)
            yield break;
        var typeArguments = method.DeclaringType is { IsGenericType: true } generic ? generic.GetGenericArguments() : null;
        var methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        for (var i = 0; i < il.Length;)
        {
            var opCode = il[i] == 0xFE ? OpCodesByValue[(short)(0xFE00 | il[i + 1])] : OpCodesByValue[il[i]];
            i += opCode.Size;
            if (opCode.OperandType == OperandType.InlineMethod)
            {
                MethodBase? called = null;
                try
                {
                    called = method.Module.ResolveMethod(BitConverter.ToInt32(il, i), typeArguments, methodArguments);
                }
                catch (ArgumentException)
                {
                }

                if (called is not null)
                    yield return called;
            }

            i += opCode.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + (4 * BitConverter.ToInt32(il, i)),
                _ => 4,
            };
        }
    }
}
