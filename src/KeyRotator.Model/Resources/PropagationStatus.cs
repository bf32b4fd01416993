namespace KeyRotator.Model.Resources;

/// <summary>
/// Which keys the set's verifiers and signers hold, from their heartbeats and JWKS fetches within the
/// operator's window. Absent until anyone reports.
/// </summary>
public sealed record PropagationStatus
{
    /// <summary>Verifiers seen within the window.</summary>
    public int Verifiers { get; init; }

    /// <summary>Of those, how many hold a JWKS with the active key.</summary>
    public int VerifiersWithActiveKey { get; init; }

    /// <summary>Of those, how many hold a JWKS with the pending key (absent when no key is pending).</summary>
    public int? VerifiersWithNextKey { get; init; }

    /// <summary>Signers seen within the window.</summary>
    public int Signers { get; init; }

    /// <summary>Of those, how many sign with the active key.</summary>
    public int SignersOnActiveKey { get; init; }

    /// <summary>Up to ten verifiers that lack the pending key (or the active one when none is pending).</summary>
    public IList<string>? StaleVerifiers { get; init; }

    /// <summary>Up to ten signers that do not sign with the active key.</summary>
    public IList<string>? StaleSigners { get; init; }
}
