namespace KeyRotator.Operator.Kubernetes;

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

    public const string Finalizer = "keyrotator.io/cleanup";

    public static Dictionary<string, string> For(string setNamespace, string setName, string role) => new()
    {
        [ManagedBy] = ManagedByValue,
        [SetName] = setName,
        [SetNamespace] = setNamespace,
        [Role] = role,
    };
}
