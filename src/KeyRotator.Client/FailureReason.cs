namespace KeyRotator.Client;

/// <summary>Why a token was rejected; each maps to a metric tag and to what an SRE should suspect.</summary>
public enum FailureReason
{
    /// <summary>No kid, or a kid the JWKS does not hold: after a rotation, a stale JWKS.</summary>
    UnknownKid,

    /// <summary>A known kid whose signature does not verify: forgery attempts.</summary>
    BadSignature,

    /// <summary>alg missing, none, HS*, not in the JWKS, or not the key's alg.</summary>
    AlgRejected,

    Expired,

    NotYetValid,

    Audience,

    Issuer,

    /// <summary>No exp, no iat/nbf to bound it, or longer than the maximum token lifetime.</summary>
    Lifetime,

    /// <summary>Not a compact JWS at all.</summary>
    Malformed,
}

public static class FailureReasonNames
{
    /// <summary>The wire and metric name: unknown_kid, bad_signature, …</summary>
    public static string ToTag(this FailureReason reason) => reason switch
    {
        FailureReason.UnknownKid => "unknown_kid",
        FailureReason.BadSignature => "bad_signature",
        FailureReason.AlgRejected => "alg_rejected",
        FailureReason.Expired => "expired",
        FailureReason.NotYetValid => "not_yet_valid",
        FailureReason.Audience => "audience",
        FailureReason.Issuer => "issuer",
        FailureReason.Lifetime => "lifetime",
        _ => "malformed",
    };

    public static bool TryParse(string tag, out FailureReason reason)
    {
        foreach (var candidate in Enum.GetValues<FailureReason>())
        {
            if (candidate.ToTag() == tag)
            {
                reason = candidate;
                return true;
            }
        }

        reason = FailureReason.Malformed;
        return false;
    }
}
