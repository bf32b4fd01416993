using KeyRotator.Core.Lifecycle;

namespace KeyRotator.Core.Tests.Lifecycle;

public sealed class HoldsTests
{
    private static readonly HoldProblem NotGranted = new(Reasons.VaultNotGranted, "namespace team may not use Azure Key Vault https://v/");
    private static readonly NameHeld TheirSecret = new("Secret", "team", "auth-signing", "spec.signingSecretName", "SigningKeySet team/other");

    [Fact]
    public void A_set_with_nothing_wrong_is_not_held() => Assert.Null(Holds.Decide(HoldFacts.None));

    [Fact]
    public void Every_problem_of_every_check_is_reported_in_the_chain_order()
    {
        var facts = new HoldFacts(["spec.rotation.interval 1m is under 1h"], ["spec.algorithm was ES256 and is now RS256"], NotGranted,
            [new(Reasons.PublishTargetNotGranted, "spec.publish names ClusterPublishTarget cdn, which does not exist")], [TheirSecret]);

        var problems = Holds.Evaluate(facts);

        Assert.Equal([Reasons.InvalidSpec, Reasons.InvalidSpec, Reasons.VaultNotGranted, Reasons.PublishTargetNotGranted, Reasons.NameConflict], problems.Select(p => p.Reason));
        var hold = Holds.Decide(facts)!;
        Assert.Equal((StepFailureKind.Held, Reasons.InvalidSpec), (hold.Kind, hold.Reason));
        Assert.StartsWith("5 problems: [InvalidSpec] spec.rotation.interval", hold.Message, StringComparison.Ordinal);
        Assert.Contains("[NameConflict] Secret team/auth-signing (spec.signingSecretName) belongs to SigningKeySet team/other", hold.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Problems_of_one_reason_read_as_they_always_did()
    {
        var hold = Holds.Decide(HoldFacts.None with { SpecProblems = ["a is wrong", "b is wrong"] })!;

        Assert.Equal((Reasons.InvalidSpec, "a is wrong; b is wrong"), (hold.Reason, hold.Message));
    }

    [Fact]
    public void A_grant_missing_alone_is_the_reason()
    {
        var hold = Holds.Decide(HoldFacts.None with { VaultRefusal = NotGranted })!;

        Assert.Equal((Reasons.VaultNotGranted, NotGranted.Message), (hold.Reason, hold.Message));
    }

    [Fact]
    public void A_thousand_problems_still_fit_in_a_condition()
    {
        var hold = Holds.Decide(HoldFacts.None with { SpecProblems = [.. Enumerable.Range(0, 1000).Select(i => $"problem {i} " + new string('x', 100))], VaultRefusal = NotGranted })!;

        Assert.True(hold.Message.Length <= StatusMessage.MaxConditionLength);
        Assert.Contains("more", hold.Message, StringComparison.Ordinal);
    }
}
