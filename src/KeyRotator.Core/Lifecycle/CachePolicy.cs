namespace KeyRotator.Core.Lifecycle;

/// <summary>
/// How long a verifier or a cache in front of it may keep a JWKS: short enough that a key pre-published
/// for prePublish reaches it before it signs, and that a revoked key leaves it soon. The operator's HTTP
/// endpoint and the external targets (blob Cache-Control) use the same rule.
/// </summary>
public static class CachePolicy
{
    /// <summary>The ceiling, whatever prePublish is: a revoked key is gone from every well-behaved cache within it.</summary>
    public static readonly TimeSpan MaxAgeCeiling = TimeSpan.FromMinutes(5);

    /// <summary>The longest max-age the policy allows for a set with <paramref name="rotation"/> (its prePublish, or the default).</summary>
    public static TimeSpan MaxAge(KeyRotator.Model.Resources.RotationSpec? rotation) =>
        MaxAge(KeyRotator.Model.Time.GoDuration.TryParse(rotation?.PrePublish, out var prePublish) ? prePublish : SpecValidator.DefaultPrePublish);

    /// <summary>The longest max-age the policy allows: prePublish / 4, at most 5 minutes, at least 1 second.</summary>
    public static TimeSpan MaxAge(TimeSpan prePublish)
    {
        var quarter = prePublish / 4;
        return quarter > MaxAgeCeiling ? MaxAgeCeiling : quarter < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : quarter;
    }

    /// <summary>The shortest time between two checks of a published external document (<see cref="DriftCheck"/>).</summary>
    public static readonly TimeSpan MinimumDriftCheck = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How often documents published outside the cluster are checked against what the operator wrote (a
    /// restore or a hand edit is repaired within this): their max-age, so that a cache that fetches the
    /// document again finds it repaired, and never more often than <see cref="MinimumDriftCheck"/>.
    /// </summary>
    public static TimeSpan DriftCheck(TimeSpan maxAge) => maxAge < MinimumDriftCheck ? MinimumDriftCheck : maxAge;

    /// <summary>How long a revocation counts as recent (<see cref="MaxAge(KeyRotator.Model.Resources.RotationSpec?, IEnumerable{KeyRotator.Model.Resources.KeyStatus}?, DateTimeOffset)"/>).</summary>
    public static readonly TimeSpan RevocationRecency = TimeSpan.FromMinutes(15);

    /// <summary>The max-age while a revocation is recent, when the set's own is longer.</summary>
    public static readonly TimeSpan RecentRevocationMaxAge = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The max-age of a set's documents at <paramref name="now"/>: its own, or, for
    /// <see cref="RevocationRecency"/> after a key of <paramref name="keys"/> was revoked, at most
    /// <see cref="RecentRevocationMaxAge"/>. An incident brings more changes (the emergency key, the next
    /// revocation); each must reach relying parties in seconds, not a full max-age.
    /// </summary>
    public static TimeSpan MaxAge(KeyRotator.Model.Resources.RotationSpec? rotation, IEnumerable<KeyRotator.Model.Resources.KeyStatus>? keys, DateTimeOffset now)
    {
        var own = MaxAge(rotation);
        return RecentRevocationEnds(keys, now) is null || own <= RecentRevocationMaxAge ? own : RecentRevocationMaxAge;
    }

    /// <summary>When the latest recent revocation among <paramref name="keys"/> stops being recent, or null when none is.</summary>
    public static DateTimeOffset? RecentRevocationEnds(IEnumerable<KeyRotator.Model.Resources.KeyStatus>? keys, DateTimeOffset now) =>
        keys?.Where(k => k.RevokedAt is { } at && at <= now && at + RevocationRecency > now).Select(k => (DateTimeOffset?)(k.RevokedAt!.Value + RevocationRecency)).Max();

    /// <summary>
    /// How long after a document is written relying parties behind <paramref name="allowance"/> (a CDN or proxy
    /// in front of the target) and an HTTP cache honouring the document's max-age may still hold the previous one.
    /// </summary>
    public static TimeSpan Reach(TimeSpan prePublish, TimeSpan allowance) => allowance + MaxAge(prePublish);

    /// <summary>
    /// The shortest prePublish (whole seconds) whose key reaches relying parties behind <paramref name="allowance"/>
    /// before it signs: the smallest p with p ≥ allowance + MaxAge(p).
    /// </summary>
    public static TimeSpan MinimumPrePublish(TimeSpan allowance)
    {
        // p − MaxAge(p) never decreases as p grows: solve on each piece of MaxAge, then round up to the second.
        var floor = allowance + TimeSpan.FromSeconds(1); // MaxAge is 1 s while p < 4 s
        var candidate = floor <= TimeSpan.FromSeconds(4) ? floor
            : allowance * 4 / 3 <= MaxAgeCeiling * 4 ? allowance * 4 / 3 // MaxAge is p / 4 up to 20 m
            : allowance + MaxAgeCeiling;
        var seconds = TimeSpan.FromSeconds(Math.Ceiling(candidate.TotalSeconds));
        while (seconds < Reach(seconds, allowance))
            seconds += TimeSpan.FromSeconds(1);
        return seconds;
    }
}
