namespace KeyRotator.Operator.Observability;

/// <summary>The verdict on a set's reported failures: counts in the window, the baseline, the dominant cause.</summary>
public sealed record FailureSpike(bool Spiking, long WindowCount, double BaselinePerWindow, string? Reason, string? Kid, TimeSpan Window)
{
    public string Describe()
    {
        var cause = Reason switch
        {
            "unknown_kid" => "verifiers do not know the key: a stale JWKS after a rotation?",
            "bad_signature" => "a known kid with a bad signature: forgery attempts?",
            "alg_rejected" => "tokens with a rejected algorithm (none, HS*): forgery attempts or a misconfigured signer",
            "expired" => "expired tokens: clock skew or a signer issuing long-lived tokens",
            _ => "see keyrotator_signature_failures_total by reason",
        };
        return $"{WindowCount} signature failures in the last {KeyRotator.Model.Time.GoDuration.Format(Window)} " +
            $"(baseline {BaselinePerWindow:0.#} per window), mostly {Reason} for kid {Kid}: {cause}";
    }
}
