namespace KeyRotator.Model.Kubernetes;

/// <summary>Labels and annotations on everything the operator manages; informers select on ManagedBy.</summary>
public static class Labels
{
    public const string ManagedBy = "app.kubernetes.io/managed-by";
    public const string ManagedByValue = "keyrotator";
    public const string ManagedBySelector = ManagedBy + "=" + ManagedByValue;
    public const string SetName = "keyrotator.io/set-name";
    public const string SetNamespace = "keyrotator.io/set-namespace";
    public const string Role = "keyrotator.io/role";

    public const string ActiveKidAnnotation = "keyrotator.io/active-kid";
    public const string ContentHashAnnotation = "keyrotator.io/content-hash";
    public const string RotateNowAnnotation = "keyrotator.io/rotate-now";

    /// <summary>A kid whose activation is never rolled back, whatever verifiers report.</summary>
    public const string NoRollbackAnnotation = "keyrotator.io/no-rollback";

    /// <summary>A pending kid that activates when due without waiting for verifiers (Confirmed, or after a rollback).</summary>
    public const string ForceActivationAnnotation = "keyrotator.io/force-activation";

    /// <summary>On every object the operator writes: the UID of the set it belongs to (owner references cannot cross namespaces).</summary>
    public const string SetUidAnnotation = "keyrotator.io/set-uid";

    /// <summary>
    /// On a Namespace: the namespaces whose SigningKeySets may copy their JWKS into it, comma-separated,
    /// or "*" for any. Without it, no set outside the namespace can make the operator write there.
    /// </summary>
    public const string AcceptJwksFromAnnotation = "keyrotator.io/accept-jwks-from";

    /// <summary>On a key store kept after its set was deleted under deletionPolicy Retain: the UID of that set.</summary>
    public const string RetainedFromUidAnnotation = "keyrotator.io/retained-from-uid";

    public const string Finalizer = "keyrotator.io/cleanup";

    /// <summary>The annotation's value, or null.</summary>
    public static string? Annotation(k8s.Models.V1ObjectMeta metadata, string key) =>
        metadata.Annotations is { } annotations && annotations.TryGetValue(key, out var value) ? value : null;

    public static Dictionary<string, string> For(string setNamespace, string setName, string role) => new()
    {
        [ManagedBy] = ManagedByValue,
        [SetName] = setName,
        [SetNamespace] = setNamespace,
        [Role] = role,
    };
}
