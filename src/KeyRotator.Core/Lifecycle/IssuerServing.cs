using KeyRotator.Model.Jose;
using KeyRotator.Model.Resources;
using KeyRotator.Model.Time;

namespace KeyRotator.Core.Lifecycle;

/// <summary>
/// What the service-account signer serves for a set marked spec.serviceAccountIssuer: the keys of
/// FetchKeys, the key Sign signs with, and Metadata's token lifetime. <see cref="Refusal"/> says why it
/// serves nothing (Metadata and FetchKeys refuse too); <see cref="SignRefusal"/> why Sign cannot sign now.
/// A kid signs only when it is one of <see cref="Keys"/>: no token is ever signed with a key the API
/// server was not given.
/// </summary>
public sealed record IssuerServing
{
    public string? Refusal { get; init; }

    public string? SignRefusal { get; init; }

    /// <summary>The published keys (Active, Pending, Retiring), those the API server accepts.</summary>
    public IReadOnlyList<Jwk> Keys { get; init; } = [];

    /// <summary>The key Sign uses: the signing Secret's kid, which is among <see cref="Keys"/>.</summary>
    public Jwk? SigningKey { get; init; }

    public TimeSpan MaxTokenLifetime { get; init; }

    public TimeSpan RefreshHint { get; init; }

    /// <summary>
    /// Decides what to serve from the set's spec, the JWKS the operator published for it and the kid of
    /// its signing Secret (what every signer of the set signs with). A spec the operator holds as invalid
    /// does not stop the signer: the cluster's tokens keep being signed with the keys that exist (the
    /// operator keeps them published and still withdraws revoked ones), only the issuer mark is required.
    /// </summary>
    public static IssuerServing Decide(string setName, SigningKeySetSpec spec, JwksDocument? published, string? signingKid)
    {
        if (spec.ServiceAccountIssuer != true)
            return new IssuerServing { Refusal = $"SigningKeySet {setName} is not marked as the cluster's service-account issuer (spec.serviceAccountIssuer: true)" };
        var lifetime = GoDuration.TryParse(spec.MaxTokenLifetime, out var parsed) ? parsed : TimeSpan.FromMinutes(15);
        if (lifetime < ServiceAccountIssuerRules.MinimumTokenLifetime)
            return new IssuerServing { Refusal = $"SigningKeySet {setName}: spec.maxTokenLifetime {GoDuration.Format(lifetime)} is below the 10m the Kubernetes API server requires of an external signer (max_token_expiration_seconds >= 600)" };
        var prePublish = GoDuration.TryParse(spec.Rotation?.PrePublish, out var pre) ? pre : SpecValidator.DefaultPrePublish;
        var revoked = new HashSet<string>(spec.RevokedKeyIds ?? [], StringComparer.Ordinal);

        // Revoked kids leave at once, even while the published JWKS still lags behind the spec.
        var keys = (published?.Keys ?? [])
            .Where(k => !revoked.Contains(k.Kid) && k.Kid.Length is > 0 and <= ServiceAccountIssuerRules.MaximumKidLength)
            .Where(k => ServiceAccountIssuerRules.AcceptedAlgorithms.Any(a => a.Name == k.Alg))
            .ToList();
        var signing = keys.FirstOrDefault(k => k.Kid == signingKid);
        var serving = new IssuerServing
        {
            Keys = keys,
            SigningKey = signing,
            MaxTokenLifetime = lifetime,
            RefreshHint = ServiceAccountIssuerRules.RefreshHint(prePublish),
        };
        return signingKid switch
        {
            null => serving with { SignRefusal = $"SigningKeySet {setName} has no active key yet" },
            _ when revoked.Contains(signingKid) => serving with { SignRefusal = $"the signing key {signingKid} of SigningKeySet {setName} is revoked" },
            _ when signing is null => serving with { SignRefusal = $"the signing key {signingKid} of SigningKeySet {setName} is not in its published JWKS (or has an algorithm the API server does not accept)" },
            _ => serving,
        };
    }
}
