namespace KeyRotator.Core.Lifecycle;

/// <summary>
/// Whether a set may move forward: an ordered chain of pure checks over what the observer read (as
/// cert-manager's certificate policies), each giving every problem it finds; the whole chain always runs,
/// so that the Ready=False message lists every problem at once (as YARP's config validator) and a fix is
/// never followed by the next surprise. The first problem's reason is Ready's reason.
/// </summary>
public static class Holds
{
    private static readonly Func<HoldFacts, IEnumerable<HoldProblem>>[] Chain =
    [
        // The spec breaks a rule: nothing it says can be trusted.
        facts => facts.SpecProblems.Select(p => new HoldProblem(Reasons.InvalidSpec, p)),

        // Keys exist with other parameters: following the change would orphan them.
        facts => facts.ParameterChanges.Select(p => new HoldProblem(Reasons.InvalidSpec, p)),

        // The namespace may not use the vault: it is never contacted.
        facts => facts.VaultRefusal is { } refusal ? [refusal] : [],

        // The namespace may not publish where spec.publish says.
        facts => facts.TargetRefusals,

        // A name the set writes belongs to someone else: it is left unchanged, and no key signs.
        facts => facts.NamesHeld.Select(held => new HoldProblem(Reasons.NameConflict, NameConflict(held))),
    ];

    /// <summary>Every problem, in the chain's order; empty when the set may move.</summary>
    public static IReadOnlyList<HoldProblem> Evaluate(HoldFacts facts) => [.. Chain.SelectMany(check => check(facts))];

    /// <summary>The hold for <paramref name="facts"/>, or null when the set may move.</summary>
    public static StepFailure? Decide(HoldFacts facts) => Compose(Evaluate(facts));

    /// <summary>
    /// One hold from <paramref name="problems"/>: the first one's reason, and a message that names them all
    /// (only the messages when they share one reason, as a single problem always read; each with its reason when not).
    /// </summary>
    public static StepFailure? Compose(IReadOnlyList<HoldProblem> problems)
    {
        if (problems.Count == 0)
            return null;
        var oneReason = problems.All(p => p.Reason == problems[0].Reason);
        var message = oneReason
            ? StatusMessage.Join("", "; ", [.. problems.Select(p => p.Message)])
            : StatusMessage.Join($"{problems.Count} problems: ", "; ", [.. problems.Select(p => $"[{p.Reason}] {p.Message}")]);
        return new StepFailure(StepFailureKind.Held, problems[0].Reason, message);
    }

    /// <summary>What a name someone else holds means and what to do about it.</summary>
    public static string NameConflict(NameHeld held) => held.Field is { } field
        ? $"{held.Kind} {held.Namespace}/{held.Name} ({field}) belongs to {held.Holder} and was left unchanged; choose another {field}, or delete or rename that {held.Kind}"
        : $"{held.Kind} {held.Namespace}/{held.Name} belongs to {held.Holder} and was left unchanged; delete or rename that {held.Kind}";
}
