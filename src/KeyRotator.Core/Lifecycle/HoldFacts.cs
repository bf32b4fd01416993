namespace KeyRotator.Core.Lifecycle;

/// <summary>
/// What the observer read that can hold a set, every fact gathered before anything is judged (nothing
/// short-circuits: a set with three problems is told all three at once).
/// </summary>
/// <param name="SpecProblems">What the spec breaks (<see cref="SpecValidator"/> and the rules that need the set's name).</param>
/// <param name="ParameterChanges">Algorithm, key size or vault changed since the set's keys were made.</param>
/// <param name="VaultRefusal">Why the set's namespace may not use its vault (a grant or an allow-list), if it may not.</param>
/// <param name="TargetRefusals">Why it may not publish where spec.publish says, one per target that refuses.</param>
/// <param name="NamesHeld">Names the set writes that another owner holds.</param>
public sealed record HoldFacts(
    IReadOnlyList<string> SpecProblems,
    IReadOnlyList<string> ParameterChanges,
    HoldProblem? VaultRefusal,
    IReadOnlyList<HoldProblem> TargetRefusals,
    IReadOnlyList<NameHeld> NamesHeld)
{
    public static HoldFacts None { get; } = new([], [], null, [], []);
}
