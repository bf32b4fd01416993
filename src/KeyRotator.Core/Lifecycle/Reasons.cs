namespace KeyRotator.Core.Lifecycle;

/// <summary>
/// The condition reasons the reconcile branches on or that runbooks and alerts name, in one place.
/// Vault providers add their own failure reasons (<c>VaultUnavailable</c>, <c>VaultAccessDenied</c>,
/// <c>PinSecretMissing</c>, …) which reach Degraded as they are; docs/operations.md lists them all.
/// </summary>
public static class Reasons
{
    /// <summary>Ready=False: the spec breaks a rule (SpecValidator, the CRD's transition rules); nothing moves but safety.</summary>
    public const string InvalidSpec = "InvalidSpec";

    /// <summary>Ready=False (own ConfigMap or signing Secret) or Degraded=True (a copy): the name belongs to someone else and is left unchanged.</summary>
    public const string NameConflict = "NameConflict";

    /// <summary>Ready=False: no ClusterKeyVault grants the set's Azure Key Vault or PKCS#11 token to its namespace.</summary>
    public const string VaultNotGranted = "VaultNotGranted";

    /// <summary>Ready=False: spec.publish names a ClusterPublishTarget that does not exist or is not granted to the set's namespace.</summary>
    public const string PublishTargetNotGranted = "PublishTargetNotGranted";

    /// <summary>Ready=False: the PKCS#11 module is not on the operator's allow-list (KeyRotator:Pkcs11:Libraries).</summary>
    public const string LibraryNotAllowed = "LibraryNotAllowed";

    /// <summary>Degraded=True: the API server refused a JWKS copy or the signing Secret; no key activates until it succeeds.</summary>
    public const string PublishFailed = "PublishFailed";

    /// <summary>Degraded=True: a key that must stay published (or sign) is no longer in the vault; the JWKS is left as it is.</summary>
    public const string KeyMissing = "KeyMissing";

    /// <summary>Degraded=True: some spec.jwks.targetNamespaces hold no copy (status.skippedTargets says why).</summary>
    public const string CopiesSkipped = "CopiesSkipped";

    /// <summary>Degraded=False: the vault and the API server answer.</summary>
    public const string AsExpected = "AsExpected";

    /// <summary>Degraded=True: the reconcile threw something none of its paths handle; retried with backoff.</summary>
    public const string ReconcileFailed = "ReconcileFailed";

    /// <summary>SignatureFailureSpike=True: reported failures exceed the baseline.</summary>
    public const string SpikeDetected = "SpikeDetected";

    /// <summary>SignatureFailureSpike=False.</summary>
    public const string NoSpike = "NoSpike";

    /// <summary>The Warning Event of a deleted set whose documents at an external target were left (the target gone or no longer granted).</summary>
    public const string DocumentsNotRemoved = "DocumentsNotRemoved";

    /// <summary>The Warning Event of a deleted set whose vault was left untouched.</summary>
    public const string KeysNotRemoved = "KeysNotRemoved";
}
