using KeyRotator.Core.Keys;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Resources;

namespace KeyRotator.Core.Tests.Lifecycle;

public sealed class FailuresTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(Reasons.NameConflict, StepFailureKind.Held, "publish")]
    [InlineData("VaultUnavailable", StepFailureKind.Degraded, "vault")]
    [InlineData("VaultAccessDenied", StepFailureKind.Degraded, "vault")]
    public void A_vault_failure_holds_only_for_a_name_someone_else_holds(string reason, StepFailureKind kind, string stage)
    {
        var failure = Failures.Vault(reason, "the vault said no");

        Assert.Equal((kind, reason, stage), (failure.Kind, failure.Reason, Failures.Stage(failure)));
    }

    [Fact]
    public void A_refused_write_degrades_with_publish_failed_whatever_the_answer()
    {
        var failure = Failures.PublishRefused("PUT configmaps team/auth-jwks: 409 Conflict");

        Assert.Equal((StepFailureKind.Degraded, Reasons.PublishFailed, "publish"), (failure.Kind, failure.Reason, Failures.Stage(failure)));
        Assert.Contains("409 Conflict", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_name_conflict_found_by_a_write_holds_the_set()
    {
        var failure = Failures.NameConflict(new NameHeld("ConfigMap", "team", "auth-jwks", "spec.jwks.configMapName", "another owner"));

        Assert.Equal((StepFailureKind.Held, Reasons.NameConflict), (failure.Kind, failure.Reason));
        Assert.Contains("choose another spec.jwks.configMapName", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_jwks_copy_whose_name_is_taken_in_the_sets_own_namespace_holds_the_set()
    {
        var conflict = Failures.JwksCopyConflict("team", new NameHeld("ConfigMap", "team", "auth-jwks", "spec.jwks.configMapName", "another SigningKeySet (team/other, or an earlier set of that name)"));

        Assert.Null(conflict.Skipped);
        Assert.Equal((StepFailureKind.Held, Reasons.NameConflict), (conflict.Hold!.Kind, conflict.Hold.Reason));
        Assert.Contains("ConfigMap team/auth-jwks (spec.jwks.configMapName) belongs to another SigningKeySet (team/other", conflict.Hold.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_jwks_copy_whose_name_is_taken_in_a_target_namespace_is_skipped_without_naming_the_other_tenants_holder()
    {
        var conflict = Failures.JwksCopyConflict("team", new NameHeld("ConfigMap", "web", "auth-jwks", "spec.jwks.configMapName", "another SigningKeySet (web/secret-project, or an earlier set of that name)"));

        Assert.Null(conflict.Hold);
        Assert.Equal(("web", Reasons.NameConflict), (conflict.Skipped!.Namespace, conflict.Skipped.Reason));
        Assert.Contains("ConfigMap web/auth-jwks (spec.jwks.configMapName) belongs to another owner", conflict.Skipped.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-project", conflict.Skipped.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Spec_and_grant_holds_count_as_validation()
    {
        Assert.Equal("validation", Failures.Stage(new StepFailure(StepFailureKind.Held, Reasons.InvalidSpec, "")));
        Assert.Equal("validation", Failures.Stage(new StepFailure(StepFailureKind.Held, Reasons.VaultNotGranted, "")));
        Assert.Equal("publish", Failures.Stage(new StepFailure(StepFailureKind.Held, Reasons.PublishTargetNotGranted, "")));
    }

    [Fact]
    public void A_published_kid_the_vault_no_longer_holds_stops_publication_with_key_missing()
    {
        var (kept, gone) = (Key(2), Key(1));

        var failure = Failures.MissingKeys([kept.Kid, gone.Kid], [kept])!;

        Assert.Equal((StepFailureKind.Degraded, Reasons.KeyMissing), (failure.Kind, failure.Reason));
        Assert.Contains(gone.Kid, failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(kept.Kid, failure.Message, StringComparison.Ordinal);
        Assert.Null(Failures.MissingKeys([kept.Kid], [kept, gone]));
    }

    [Fact]
    public void A_refused_withdrawal_names_at_most_three_kids()
    {
        var failure = Failures.WithdrawalRefused(new HashSet<string>(["a", "b", "c", "d", "e"]), "403 Forbidden");

        Assert.Equal(Reasons.PublishFailed, failure.Reason);
        Assert.Contains("key(s) a, b, c and 2 more", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_degraded_set_that_does_not_sign_yet_says_why_in_ready_and_warns_once()
    {
        var withdrawal = new Withdrawal(new SigningKeySetStatus(), new HashSet<string>(), [], null);
        var failure = Failures.Vault("VaultUnavailable", "503 from the vault");

        var first = StatusComposer.Degraded(null, withdrawal, failure, 1, Now);
        var again = StatusComposer.Degraded(first.Status, withdrawal with { Status = first.Status }, failure, 1, Now);

        var ready = ConditionSet.Find(first.Status.Conditions, ConditionSet.Ready)!;
        Assert.Equal(("False", "VaultUnavailable"), (ready.Status, ready.Reason));
        Assert.Single(first.Events, e => e.Type == "Warning" && e.Reason == "VaultUnavailable");
        Assert.Empty(again.Events);
        Assert.Equal("vault", again.ErrorStage);
    }

    private static StoredKey Key(long generation) =>
        new(PrivateSigningKey.Generate(JwsAlgorithm.ES256, 2048).PublicJwk, generation, Now, $"secret:key-{generation}");
}
