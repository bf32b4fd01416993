namespace KeyRotator.Operator.Configuration;

/// <summary>Limits of the signature-failure report endpoint (configuration "KeyRotator:Reports").</summary>
public sealed class ReportOptions
{
    /// <summary>The audience service-account tokens must be bound to.</summary>
    public string Audience { get; set; } = "keyrotator";

    public int MaxBodyBytes { get; set; } = 64 * 1024;

    public int MaxEntries { get; set; } = 1000;

    /// <summary>Reports per second one caller may send (token bucket; bursts up to twice this).</summary>
    public int RequestsPerSecondPerCaller { get; set; } = 5;

    /// <summary>
    /// The longest an authenticated token's TokenReview is reused (never past the token's own exp). A
    /// token that failed review is never cached. Heartbeats from many verifiers stay at about one
    /// TokenReview per token lifetime instead of one per report.
    /// </summary>
    public TimeSpan ReviewCacheTtl { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// TokenReviews and SubjectAccessReviews the endpoint has in flight at once; more wait their turn. A
    /// fleet of verifiers starting together (each a new token) would otherwise send the API server
    /// hundreds at once, in the same priority-and-fairness flow as this operator's own Lease renewals.
    /// </summary>
    public int MaxConcurrentReviews { get; set; } = 8;

    /// <summary>
    /// The longest a review may take, its wait for a turn included. A report whose review fails or runs
    /// out of time is answered 503 with Retry-After, and its turn goes to the next.
    /// </summary>
    public TimeSpan ReviewTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// TokenReviews per second, over all callers, for tokens the operator has not reviewed yet (reviewed
    /// tokens are reused until they expire). A token must first parse, be bound to the audience, be
    /// unexpired and verify against the cluster's service-account issuer keys; what still gets through is
    /// held to this budget, and a request over it is answered 503 with Retry-After: 1.
    /// </summary>
    public int TokenReviewsPerSecond { get; set; } = 20;

    /// <summary>TokenReviews that may go at once above TokenReviewsPerSecond after a quiet spell: a fleet of verifiers starting together.</summary>
    public int TokenReviewBurst { get; set; } = 200;

    /// <summary>
    /// TokenReviews per second for the tokens of one namespace (the service account's, read from the
    /// token's <c>kubernetes.io</c> claim once its signature has verified; tokens whose signature could not
    /// be checked share one namespace of their own), within <see cref="TokenReviewsPerSecond"/>: one team
    /// minting tokens as fast as it can takes at most this share, and the rest stays with the others.
    /// </summary>
    public int TokenReviewsPerSecondPerNamespace { get; set; } = 5;

    /// <summary>TokenReviews one namespace may send at once after a quiet spell (its fleet starting together), within <see cref="TokenReviewBurst"/>.</summary>
    public int TokenReviewBurstPerNamespace { get; set; } = 200;

    /// <summary>
    /// SubjectAccessReviews per second, over all callers, for decisions not cached yet (allowed ones are
    /// reused for <see cref="AllowedCacheTtl"/>, denials for <see cref="DeniedCacheTtl"/>).
    /// </summary>
    public int SubjectAccessReviewsPerSecond { get; set; } = 20;

    /// <summary>SubjectAccessReviews that may go at once above SubjectAccessReviewsPerSecond after a quiet spell.</summary>
    public int SubjectAccessReviewBurst { get; set; } = 200;

    /// <summary>SubjectAccessReviews per second for the callers of one namespace (their service account's), within <see cref="SubjectAccessReviewsPerSecond"/>.</summary>
    public int SubjectAccessReviewsPerSecondPerNamespace { get; set; } = 5;

    /// <summary>SubjectAccessReviews one namespace's callers may send at once after a quiet spell, within <see cref="SubjectAccessReviewBurst"/>.</summary>
    public int SubjectAccessReviewBurstPerNamespace { get; set; } = 200;

    /// <summary>How long a SubjectAccessReview that allowed a report is reused (kube-apiserver's webhook authorizer default).</summary>
    public TimeSpan AllowedCacheTtl { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long a SubjectAccessReview that denied a report is reused, so that a fixed RoleBinding takes effect soon.</summary>
    public TimeSpan DeniedCacheTtl { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A verifier or signer counts for a set while it has been heard (heartbeat, report or JWKS fetch)
    /// within this window; three heartbeat intervals of the client library by default.
    /// </summary>
    public TimeSpan PropagationWindow { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A file holding this replica's own projected service-account token for <see cref="PeerAudience"/>
    /// (the chart mounts one, rotated by the kubelet): a report accepted by one replica is passed on to
    /// the others with it, so that every replica, the leader and whoever leads next, holds every report
    /// and heartbeat. Unset: no forwarding (one replica).
    /// </summary>
    public string? PeerTokenPath { get; set; }

    /// <summary>The audience of the replicas' peer tokens; distinct from <see cref="Audience"/>, so that a reporter's token is never a peer's.</summary>
    public string PeerAudience { get; set; } = "keyrotator-peers";

    /// <summary>
    /// The user a forwarded report's token must stand for: the operator's own service account
    /// (system:serviceaccount:&lt;namespace&gt;:&lt;name&gt;; the chart sets it). Required with PeerTokenPath.
    /// </summary>
    public string? PeerIdentity { get; set; }

    /// <summary>The other replicas' base URLs (static setups and tests).</summary>
    public IList<string> Peers { get; init; } = [];

    /// <summary>
    /// host:port of a headless Service whose DNS answers every replica's address (the chart's
    /// "-peers" Service); this replica's own address (POD_IP) is skipped.
    /// </summary>
    public string? PeerService { get; set; }
}
