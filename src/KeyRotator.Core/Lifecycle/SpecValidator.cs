using KeyRotator.Model.Jose;
using KeyRotator.Model.Resources;
using KeyRotator.Model.Time;
using Quartz;

namespace KeyRotator.Core.Lifecycle;

/// <summary>
/// Checks the rules the CRD schema cannot express (cross-field and operator-wide), and says what to change.
/// </summary>
public static class SpecValidator
{
    /// <summary>spec.rotation.prePublish when unset.</summary>
    public static readonly TimeSpan DefaultPrePublish = TimeSpan.FromMinutes(15);

    public static readonly IReadOnlyList<string> KnownProviders = ["Kubernetes", "AzureKeyVault", "Pkcs11"];

    public static SpecValidation Validate(SigningKeySetSpec spec, RotationPolicyOptions options)
    {
        // Over a bound, nothing else is looked at: the other checks would echo (and parse) what is too long.
        var problems = SpecBounds.Problems(spec).ToList();
        if (problems.Count > 0)
            return new SpecValidation(null, problems);

        if (!JwsAlgorithm.TryParse(spec.Algorithm, out var algorithm))
            problems.Add($"spec.algorithm \"{spec.Algorithm}\" is not supported; use one of {string.Join(", ", JwsAlgorithm.All)}");

        var rsaKeySize = 0;
        if (algorithm is { IsRsa: true })
        {
            rsaKeySize = spec.RsaKeySize ?? 3072;
            if (rsaKeySize is not (2048 or 3072 or 4096))
                problems.Add($"spec.rsaKeySize {rsaKeySize} is not allowed; use 2048, 3072 or 4096");
        }
        else if (algorithm is not null && spec.RsaKeySize is not null)
        {
            problems.Add($"spec.rsaKeySize applies to RSA algorithms only; remove it or choose an RS*/PS* algorithm instead of {algorithm}");
        }

        var rotation = spec.Rotation ?? new RotationSpec();
        var prePublish = Duration(rotation.PrePublish, "spec.rotation.prePublish", DefaultPrePublish, problems);
        var overlap = Duration(rotation.Overlap, "spec.rotation.overlap", TimeSpan.FromHours(2), problems);
        var jitter = Duration(rotation.Jitter, "spec.rotation.jitter", TimeSpan.Zero, problems);
        var maxActivationDelay = Duration(rotation.MaxActivationDelay, "spec.rotation.maxActivationDelay", TimeSpan.FromMinutes(15), problems);
        if (rotation.Activation is not (null or "Timed" or "Confirmed"))
            problems.Add($"spec.rotation.activation \"{rotation.Activation}\" is unknown; use Timed or Confirmed");
        if (rotation.OnTimeout is not (null or "Activate" or "Wait"))
            problems.Add($"spec.rotation.onTimeout \"{rotation.OnTimeout}\" is unknown; use Activate or Wait");
        if (maxActivationDelay <= TimeSpan.Zero)
            problems.Add("spec.rotation.maxActivationDelay must be greater than zero");
        var maxTokenLifetime = Duration(spec.MaxTokenLifetime, "spec.maxTokenLifetime", TimeSpan.FromMinutes(15), problems);
        var clockSkew = Duration(spec.ClockSkew, "spec.clockSkew", TimeSpan.FromMinutes(1), problems);
        Duration(spec.SignatureFailureAlert?.Window, "spec.signatureFailureAlert.window", TimeSpan.FromMinutes(5), problems);

        TimeSpan? interval = null;
        CronExpression? cron = null;
        var hasInterval = !string.IsNullOrEmpty(rotation.Interval);
        var hasCron = !string.IsNullOrEmpty(rotation.Cron);
        if (hasInterval == hasCron)
        {
            problems.Add("spec.rotation needs exactly one of interval (e.g. 720h) and cron (e.g. \"0 0 3 ? * MON\")");
        }
        else if (hasInterval)
        {
            interval = Duration(rotation.Interval, "spec.rotation.interval", TimeSpan.Zero, problems);
            if (interval < options.MinimumInterval)
                problems.Add($"spec.rotation.interval {rotation.Interval} is shorter than the operator's minimum {GoDuration.Format(options.MinimumInterval)}");
            else if (interval <= prePublish)
                problems.Add($"spec.rotation.interval {rotation.Interval} must be longer than spec.rotation.prePublish {GoDuration.Format(prePublish)}, or a key would be replaced before it signs");
            if (jitter >= interval)
                problems.Add($"spec.rotation.jitter {GoDuration.Format(jitter)} must be shorter than the interval {rotation.Interval}");
        }
        else
        {
            cron = ParseCron(rotation.Cron!, rotation.TimeZone, problems);
        }

        if (prePublish < options.MinimumPrePublish)
            problems.Add($"spec.rotation.prePublish {GoDuration.Format(prePublish)} is below the minimum {GoDuration.Format(options.MinimumPrePublish)}: mounted JWKS ConfigMaps reach pods only after the kubelet sync period and cache TTL, so verifiers would not know a new key when it starts signing; raise prePublish to at least {GoDuration.Format(options.MinimumPrePublish)}");
        var minimumOverlap = maxTokenLifetime + clockSkew + options.SignerPropagationAllowance;
        if (overlap < minimumOverlap)
            problems.Add($"spec.rotation.overlap {GoDuration.Format(overlap)} is shorter than maxTokenLifetime + clockSkew + the operator's signer allowance ({GoDuration.Format(maxTokenLifetime)} + {GoDuration.Format(clockSkew)} + {GoDuration.Format(options.SignerPropagationAllowance)}, the time signers that mount the signing Secret may keep signing with the old key): tokens signed just before a rotation would be rejected; raise overlap to at least {GoDuration.Format(minimumOverlap)} or shorten maxTokenLifetime");
        if (clockSkew > options.MaximumClockSkew)
            problems.Add($"spec.clockSkew {GoDuration.Format(clockSkew)} is larger than {GoDuration.Format(options.MaximumClockSkew)}; fix the clocks rather than widening the window in which expired tokens are accepted");
        if (maxTokenLifetime <= TimeSpan.Zero)
            problems.Add("spec.maxTokenLifetime must be greater than zero");
        if (spec.ServiceAccountIssuer == true)
            problems.AddRange(ServiceAccountIssuerRules.Problems(algorithm, maxTokenLifetime));

        var provider = spec.Vault?.Provider ?? "Kubernetes";
        if (!KnownProviders.Contains(provider))
            problems.Add($"spec.vault.provider \"{provider}\" is unknown; use one of {string.Join(", ", KnownProviders)}");
        else if (provider == "AzureKeyVault" && spec.Vault?.AzureKeyVault is null)
            problems.Add("spec.vault.azureKeyVault (vaultUri, keyName) is required when spec.vault.provider is AzureKeyVault");
        else if (provider == "AzureKeyVault")
            ValidateAzureKeyVault(spec.Vault!.AzureKeyVault!, problems);
        else if (provider == "Pkcs11" && spec.Vault?.Pkcs11 is null)
            problems.Add("spec.vault.pkcs11 (library, tokenLabel, pinSecretRef) is required when spec.vault.provider is Pkcs11");
        else if (provider == "Pkcs11")
            ValidatePkcs11(spec.Vault!.Pkcs11!, problems);

        ValidateDiscovery(spec.Jwks, problems);

        if (spec.DeletionPolicy is not (null or "Retain" or "Delete"))
            problems.Add($"spec.deletionPolicy \"{spec.DeletionPolicy}\" is unknown; use Retain or Delete");

        if (problems.Count > 0)
            return new SpecValidation(null, problems);

        return new SpecValidation(new RotationPolicy
        {
            Algorithm = algorithm!,
            RsaKeySize = rsaKeySize,
            Interval = interval,
            Cron = cron,
            PrePublish = prePublish,
            Overlap = overlap,
            Jitter = jitter,
            MaxTokenLifetime = maxTokenLifetime,
            ClockSkew = clockSkew,
            RevokedKeyIds = new HashSet<string>(spec.RevokedKeyIds ?? [], StringComparer.Ordinal),
            DeleteKeysOnRemoval = spec.DeletionPolicy == "Delete",
            RetiredKeyHistory = options.RetiredKeyHistory,
            ConfirmedActivation = rotation.Activation == "Confirmed",
            MaxActivationDelay = maxActivationDelay,
            ActivateOnTimeout = rotation.OnTimeout != "Wait",
        }, []);
    }

    private static TimeSpan Duration(string? text, string field, TimeSpan fallback, List<string> problems)
    {
        if (string.IsNullOrEmpty(text))
            return fallback;
        if (GoDuration.TryParse(text, out var duration))
            return duration;
        problems.Add($"{field} \"{text}\" is not a duration; write it like 90s, 15m or 720h");
        return fallback;
    }

    private static CronExpression? ParseCron(string expression, string? timeZone, List<string> problems)
    {
        TimeZoneInfo zone;
        try
        {
            zone = string.IsNullOrEmpty(timeZone) ? TimeZoneInfo.Utc : TimeZoneInfo.FindSystemTimeZoneById(timeZone);
        }
        catch (TimeZoneNotFoundException)
        {
            problems.Add($"spec.rotation.timeZone \"{timeZone}\" is not a known IANA time zone (e.g. UTC, Europe/Berlin)");
            return null;
        }
        catch (InvalidTimeZoneException)
        {
            problems.Add($"spec.rotation.timeZone \"{timeZone}\" could not be loaded");
            return null;
        }

        try
        {
            var cron = new CronExpression(expression, zone);
            if (cron.GetNextValidTimeAfter(DateTimeOffset.UnixEpoch) is null)
                problems.Add($"spec.rotation.cron \"{expression}\" never fires");
            return cron;
        }
        catch (FormatException e)
        {
            problems.Add($"spec.rotation.cron \"{expression}\" is not a Quartz cron expression ({e.Message}); Quartz cron has seconds first, e.g. \"0 0 3 ? * MON\" for Mondays at 03:00");
            return null;
        }
    }

    /// <summary>
    /// The discovery document names its issuer and jwks_uri from the spec alone: an https issuer with no
    /// query or fragment (OpenID Connect Discovery 1.0, section 3), and an https jwks_uri.
    /// </summary>
    private static void ValidateDiscovery(JwksSpec? jwks, List<string> problems)
    {
        if (jwks?.Issuer is { } issuer && !IsHttpsUrl(issuer, allowQuery: false))
            problems.Add($"spec.jwks.issuer \"{issuer}\" must be an https URL with no query, fragment or user name, e.g. https://auth.example.com (OpenID Connect Discovery requires it)");
        if (jwks?.JwksUri is { } jwksUri)
        {
            if (!IsHttpsUrl(jwksUri, allowQuery: true))
                problems.Add($"spec.jwks.jwksUri \"{jwksUri}\" must be an https URL with no fragment or user name, e.g. https://auth.example.com/.well-known/jwks.json");
            if (string.IsNullOrEmpty(jwks.Issuer))
                problems.Add("spec.jwks.jwksUri is published only in the discovery document, which needs spec.jwks.issuer; set the issuer or remove jwksUri");
        }
    }

    private static bool IsHttpsUrl(string text, bool allowQuery) =>
        Uri.TryCreate(text, UriKind.Absolute, out var url) && url.Scheme == Uri.UriSchemeHttps && url.Host.Length > 0
        && string.IsNullOrEmpty(url.UserInfo) && !text.Contains('#', StringComparison.Ordinal)
        && (allowQuery || !text.Contains('?', StringComparison.Ordinal));

    private static void ValidatePkcs11(Pkcs11Spec pkcs11, List<string> problems)
    {
        if (!pkcs11.Library.StartsWith('/') || pkcs11.Library.EndsWith('/'))
            problems.Add($"spec.vault.pkcs11.library \"{pkcs11.Library}\" must be the absolute path of the PKCS#11 module inside the operator's container, e.g. /usr/lib/softhsm/libsofthsm2.so");
        if (string.IsNullOrWhiteSpace(pkcs11.TokenLabel) || pkcs11.TokenLabel.Length > 32)
            problems.Add("spec.vault.pkcs11.tokenLabel must name the token (PKCS#11 labels are 1-32 characters)");
        if (string.IsNullOrEmpty(pkcs11.PinSecretRef.Name) || string.IsNullOrEmpty(pkcs11.PinSecretRef.Key))
            problems.Add("spec.vault.pkcs11.pinSecretRef needs the name and key of the Secret that holds the user PIN");
    }

    private static void ValidateAzureKeyVault(AzureKeyVaultSpec azure, List<string> problems)
    {
        if (!Uri.TryCreate(azure.VaultUri, UriKind.Absolute, out var vault) || vault.Scheme != Uri.UriSchemeHttps
            || vault.AbsolutePath != "/" || vault.Query.Length > 0 || !string.IsNullOrEmpty(vault.UserInfo))
            problems.Add($"spec.vault.azureKeyVault.vaultUri \"{azure.VaultUri}\" must be the vault's https URL with no path, e.g. https://contoso.vault.azure.net");
        if (azure.KeyName.Length is 0 or > 127 || !azure.KeyName.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            problems.Add($"spec.vault.azureKeyVault.keyName \"{azure.KeyName}\" must be 1-127 letters, digits and dashes (Key Vault's rule for key names)");
    }
}
