using KeyRotator.Model.Resources;
using KeyRotator.Model.Time;

namespace KeyRotator.Core.Lifecycle;

/// <summary>
/// The maximum of every list, string and window a SigningKeySet's spec carries. The CRD schema says the
/// same (maxItems, maxLength; the window through a CEL rule); this check is for API servers that do not
/// enforce the schema (or its CEL rules), so that no spec makes the operator do unbounded work or write
/// an unbounded status. docs/operations.md, "Bounds", lists them; a test compares them with config/crds.
/// </summary>
public static class SpecBounds
{
    public const int MaxTargetNamespaces = 100;
    public const int MaxRevokedKeyIds = 100;
    public const int MaxPublishEntries = 8;

    /// <summary>A namespace name (DNS label).</summary>
    public const int MaxNamespaceLength = 63;

    /// <summary>An object name (DNS subdomain): ConfigMap, Secret, ClusterPublishTarget, a Secret's key.</summary>
    public const int MaxNameLength = 253;

    /// <summary>A kid: the RFC 7638 thumbprint, SHA-256 in base64url without padding.</summary>
    public const int KidLength = 43;

    public const int MaxUrlLength = 2048;
    public const int MaxPublishPathLength = 512;
    public const int MaxDurationLength = 64;
    public const int MaxCronLength = 256;
    public const int MaxTimeZoneLength = 64;
    public const int MaxLibraryPathLength = 1024;
    public const int MaxTokenLabelLength = 32;
    public const int MaxKeyNameLength = 127;

    /// <summary>The longest spec.signatureFailureAlert.window; the signal state per set does not depend on it.</summary>
    public static readonly TimeSpan MaxAlertWindow = TimeSpan.FromHours(24);

    /// <summary>The shortest spec.signatureFailureAlert.window.</summary>
    public static readonly TimeSpan MinAlertWindow = TimeSpan.FromSeconds(1);

    /// <summary>Every bound the spec exceeds, naming the field and its maximum.</summary>
    public static IEnumerable<string> Problems(SigningKeySetSpec spec)
    {
        var rotation = spec.Rotation ?? new RotationSpec();
        var checks = new List<string?>
        {
            Items("spec.jwks.targetNamespaces", spec.Jwks?.TargetNamespaces, MaxTargetNamespaces, MaxNamespaceLength),
            Items("spec.revokedKeyIds", spec.RevokedKeyIds, MaxRevokedKeyIds, KidLength),
            Count("spec.publish", spec.Publish?.Count, MaxPublishEntries),
            Each("spec.publish", spec.Publish, "target", p => p.Target, MaxNameLength),
            Each("spec.publish", spec.Publish, "path", p => p.Path, MaxPublishPathLength),
            Length("spec.jwks.configMapName", spec.Jwks?.ConfigMapName, MaxNameLength),
            Length("spec.jwks.issuer", spec.Jwks?.Issuer, MaxUrlLength),
            Length("spec.jwks.jwksUri", spec.Jwks?.JwksUri, MaxUrlLength),
            Length("spec.signingSecretName", spec.SigningSecretName, MaxNameLength),
            Length("spec.rotation.interval", rotation.Interval, MaxDurationLength),
            Length("spec.rotation.cron", rotation.Cron, MaxCronLength),
            Length("spec.rotation.timeZone", rotation.TimeZone, MaxTimeZoneLength),
            Length("spec.rotation.prePublish", rotation.PrePublish, MaxDurationLength),
            Length("spec.rotation.overlap", rotation.Overlap, MaxDurationLength),
            Length("spec.rotation.jitter", rotation.Jitter, MaxDurationLength),
            Length("spec.rotation.maxActivationDelay", rotation.MaxActivationDelay, MaxDurationLength),
            Length("spec.maxTokenLifetime", spec.MaxTokenLifetime, MaxDurationLength),
            Length("spec.clockSkew", spec.ClockSkew, MaxDurationLength),
            Length("spec.vault.azureKeyVault.vaultUri", spec.Vault?.AzureKeyVault?.VaultUri, MaxUrlLength),
            Length("spec.vault.azureKeyVault.keyName", spec.Vault?.AzureKeyVault?.KeyName, MaxKeyNameLength),
            Length("spec.vault.pkcs11.library", spec.Vault?.Pkcs11?.Library, MaxLibraryPathLength),
            Length("spec.vault.pkcs11.tokenLabel", spec.Vault?.Pkcs11?.TokenLabel, MaxTokenLabelLength),
            Length("spec.vault.pkcs11.pinSecretRef.name", spec.Vault?.Pkcs11?.PinSecretRef?.Name, MaxNameLength),
            Length("spec.vault.pkcs11.pinSecretRef.key", spec.Vault?.Pkcs11?.PinSecretRef?.Key, MaxNameLength),
            Length("spec.signatureFailureAlert.window", spec.SignatureFailureAlert?.Window, MaxDurationLength) ?? AlertWindow(spec.SignatureFailureAlert?.Window),
        };
        return checks.OfType<string>();
    }

    private static string? Count(string field, int? count, int max) =>
        count > max ? $"{field} has {count} entries; at most {max} are allowed" : null;

    private static string? Length(string field, string? text, int max) =>
        text?.Length > max ? $"{field} is {text.Length} characters long; at most {max} are allowed" : null;

    private static string? Items(string field, IList<string>? items, int maxItems, int maxLength)
    {
        if (items is null)
            return null;
        if (items.Count > maxItems)
            return Count(field, items.Count, maxItems);
        var tooLong = items.Select((item, index) => (item, index)).Where(i => i.item?.Length > maxLength).ToList();
        return tooLong.Count == 0 ? null
            : Length($"{field}[{tooLong[0].index}]", tooLong[0].item, maxLength) + (tooLong.Count > 1 ? $" ({tooLong.Count} entries are too long)" : "");
    }

    private static string? Each<T>(string list, IList<T>? items, string field, Func<T, string?> text, int max) =>
        items?.Select((item, index) => Length($"{list}[{index}].{field}", text(item), max)).FirstOrDefault(p => p is not null);

    private static string? AlertWindow(string? window) =>
        GoDuration.TryParse(window, out var duration) && (duration < MinAlertWindow || duration > MaxAlertWindow)
            ? $"spec.signatureFailureAlert.window {window} is outside {GoDuration.Format(MinAlertWindow)}..{GoDuration.Format(MaxAlertWindow)}; at most {GoDuration.Format(MaxAlertWindow)} is allowed"
            : null;
}
