using KeyRotator.Model.Jose;
using KeyRotator.Model.Time;

namespace KeyRotator.Core.Lifecycle;

/// <summary>
/// What Kubernetes' ExternalJWTSigner v1 contract asks of a set whose keys sign the cluster's
/// service-account tokens (spec.serviceAccountIssuer), and the numbers the signer answers with. The
/// overlap rule (overlap at least maxTokenLifetime + clockSkew) is the general one of <see cref="SpecValidator"/>.
/// </summary>
public static class ServiceAccountIssuerRules
{
    /// <summary>The algorithms kube-apiserver accepts in a signed token's header.</summary>
    public static IReadOnlyList<JwsAlgorithm> AcceptedAlgorithms { get; } = [JwsAlgorithm.RS256, JwsAlgorithm.ES256, JwsAlgorithm.ES384, JwsAlgorithm.ES512];

    /// <summary>The smallest max_token_expiration_seconds the API server accepts from Metadata.</summary>
    public static readonly TimeSpan MinimumTokenLifetime = TimeSpan.FromSeconds(600);

    /// <summary>The API server refuses a kid longer than this.</summary>
    public const int MaximumKidLength = 1024;

    /// <summary>The longest refresh hint the signer gives, whatever prePublish is.</summary>
    public static readonly TimeSpan MaximumRefreshHint = TimeSpan.FromMinutes(1);

    /// <summary>Every reason the set cannot be the cluster's issuer; empty when it can.</summary>
    public static IEnumerable<string> Problems(JwsAlgorithm? algorithm, TimeSpan maxTokenLifetime)
    {
        if (algorithm is not null && !AcceptedAlgorithms.Contains(algorithm))
            yield return $"spec.serviceAccountIssuer: spec.algorithm {algorithm} is not accepted by the Kubernetes API server for service-account tokens; use one of {string.Join(", ", AcceptedAlgorithms)} (a new SigningKeySet if keys exist)";
        if (maxTokenLifetime < MinimumTokenLifetime)
            yield return $"spec.serviceAccountIssuer: spec.maxTokenLifetime {GoDuration.Format(maxTokenLifetime)} is below the {GoDuration.Format(MinimumTokenLifetime)} the Kubernetes API server requires of an external signer (max_token_expiration_seconds >= 600); raise it to at least 10m (kubelet asks for 1h tokens, so 1h or more is usual)";
    }

    /// <summary>
    /// How often the API server should fetch the keys again: a tenth of prePublish, at most a minute and at
    /// least a second, so that a pre-published key reaches the API server's JWKS well before it signs.
    /// </summary>
    public static TimeSpan RefreshHint(TimeSpan prePublish)
    {
        var tenth = prePublish / 10;
        return tenth > MaximumRefreshHint ? MaximumRefreshHint : tenth < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : TimeSpan.FromSeconds(Math.Floor(tenth.TotalSeconds));
    }
}
