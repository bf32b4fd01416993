using KeyRotator.Model.Resources;

namespace KeyRotator.Core.Lifecycle;

/// <summary>
/// How a failure an effect met holds the set: a name someone else holds holds it (Ready=False, no retry
/// until something changes); anything else degrades it (Degraded=True, retried with backoff). The effects
/// only report what happened; the reason and the kind are chosen here.
/// </summary>
public static class Failures
{
    /// <summary>The vault refused or failed, for <paramref name="reason"/> (its provider's reason, or NameConflict for the key store's name).</summary>
    public static StepFailure Vault(string reason, string message) =>
        new(reason == Reasons.NameConflict ? StepFailureKind.Held : StepFailureKind.Degraded, reason, message);

    /// <summary>A name the set writes turned out to be held by someone else when it was written.</summary>
    public static StepFailure NameConflict(NameHeld held) => new(StepFailureKind.Held, Reasons.NameConflict, Holds.NameConflict(held));

    /// <summary>
    /// A JWKS copy whose name someone else holds: in the set's own namespace, where its consumers read, it holds
    /// the set like any name the set writes (NameConflict, Held); in a target namespace only that copy is skipped
    /// (a skipped target, reason NameConflict, the holder not named: it belongs to another tenant) and the set goes on.
    /// </summary>
    public static CopyConflict JwksCopyConflict(string setNamespace, NameHeld held) => held.Namespace == setNamespace
        ? new CopyConflict(NameConflict(held), null)
        : new CopyConflict(null, new SkippedTarget
        {
            Namespace = held.Namespace,
            Reason = Reasons.NameConflict,
            Message = Holds.NameConflict(held with { Holder = AnotherOwner }),
        });

    /// <summary>
    /// The API server refused a JWKS copy or the signing Secret (any answer, a 404 or a 409 included: the
    /// cache was behind twice, or the namespace went away): the rotation waits, safety does not.
    /// </summary>
    public static StepFailure PublishRefused(string answer) => new(StepFailureKind.Degraded, Reasons.PublishFailed,
        $"could not publish: {answer}; the rotation waits (no key is activated) until this write succeeds");

    /// <summary>A kid that must leave could not leave every place (the first refusal, by request and answer).</summary>
    public static StepFailure WithdrawalRefused(IReadOnlySet<string> kids, string answer) => new(StepFailureKind.Degraded, Reasons.PublishFailed,
        $"could not withdraw {Kids(kids)}: {answer}; retried with backoff (status calls no key Revoked or Retired while something still publishes it)");

    /// <summary>
    /// The missing-key rule: a JWKS is never published without a key that may still have signed a live token,
    /// so a plan that publishes a kid the vault no longer holds stops before anything is written.
    /// </summary>
    public static StepFailure? MissingKeys(IEnumerable<string> published, IEnumerable<StoredKey> stored)
    {
        var held = stored.Select(k => k.Kid).ToHashSet(StringComparer.Ordinal);
        var missing = published.Where(kid => !held.Contains(kid)).ToList();
        return missing.Count == 0 ? null : new StepFailure(StepFailureKind.Degraded, Reasons.KeyMissing,
            $"the vault no longer holds key(s) {string.Join(", ", missing)} that should be published; the JWKS was left as it is");
    }

    /// <summary>The metric stage a failure counts under: validation for a spec or a grant, publish for a write, vault for the rest.</summary>
    public static string Stage(StepFailure failure) => failure.Reason switch
    {
        Reasons.InvalidSpec or Reasons.VaultNotGranted or Reasons.LibraryNotAllowed => "validation",
        _ when failure.Kind == StepFailureKind.Held => "publish",
        Reasons.PublishFailed => "publish",
        _ => "vault",
    };

    /// <summary>Who holds a name, when that is not the set's to know.</summary>
    public const string AnotherOwner = "another owner";

    /// <summary>The kids for a message: at most three named, so that a long history cannot make a status write too large.</summary>
    private static string Kids(IReadOnlySet<string> kids) =>
        kids.Count <= 3 ? $"key(s) {string.Join(", ", kids.Order(StringComparer.Ordinal))}" : $"key(s) {string.Join(", ", kids.Order(StringComparer.Ordinal).Take(3))} and {kids.Count - 3} more";
}
