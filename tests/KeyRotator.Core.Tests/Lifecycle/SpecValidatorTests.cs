using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Resources;

namespace KeyRotator.Core.Tests.Lifecycle;

public sealed class SpecValidatorTests
{
    private static readonly RotationPolicyOptions Options = new();

    private static SigningKeySetSpec Valid() => new()
    {
        Algorithm = "ES256",
        Rotation = new RotationSpec { Interval = "720h", PrePublish = "15m", Overlap = "2h" },
        MaxTokenLifetime = "15m",
        ClockSkew = "1m",
    };

    [Fact]
    public void Valid_spec_becomes_a_policy_with_defaults()
    {
        var result = SpecValidator.Validate(Valid(), Options);

        Assert.True(result.IsValid, result.Message);
        Assert.Equal(TimeSpan.FromHours(720), result.Policy!.Interval);
        Assert.Equal(0, result.Policy.RsaKeySize);
        Assert.False(result.Policy.DeleteKeysOnRemoval);
    }

    [Fact]
    public void RSA_key_size_defaults_to_3072()
    {
        var result = SpecValidator.Validate(Valid() with { Algorithm = "PS256" }, Options);

        Assert.Equal(3072, result.Policy!.RsaKeySize);
    }

    public static TheoryData<string, SigningKeySetSpec, string> Invalid => new()
    {
        { "overlap shorter than token lifetime + skew", Valid() with { Rotation = Valid().Rotation with { Overlap = "10m" } }, "raise overlap to at least 18m" },
        { "prePublish below the consumer-cache minimum", Valid() with { Rotation = Valid().Rotation with { PrePublish = "30s" } }, "raise prePublish to at least 2m" },
        { "interval shorter than prePublish", Valid() with { Rotation = Valid().Rotation with { Interval = "12m" } }, "must be longer than spec.rotation.prePublish" },
        { "interval below the minimum", Valid() with { Rotation = Valid().Rotation with { Interval = "300s" } }, "shorter than the operator's minimum" },
        { "both interval and cron", Valid() with { Rotation = Valid().Rotation with { Cron = "0 0 3 ? * MON" } }, "exactly one of interval" },
        { "unparsable cron", Valid() with { Rotation = Valid().Rotation with { Interval = null, Cron = "every monday" } }, "is not a Quartz cron expression" },
        { "unknown time zone", Valid() with { Rotation = Valid().Rotation with { Interval = null, Cron = "0 0 3 ? * MON", TimeZone = "Mars/Olympus" } }, "not a known IANA time zone" },
        { "rsaKeySize on an EC algorithm", Valid() with { RsaKeySize = 2048 }, "applies to RSA algorithms only" },
        { "unknown algorithm", Valid() with { Algorithm = "HS256" }, "\"HS256\" is not supported" },
        { "unknown provider", Valid() with { Vault = new VaultSpec { Provider = "HashiVault" } }, "use one of Kubernetes, AzureKeyVault, Pkcs11" },
        { "Azure provider without its settings", Valid() with { Vault = new VaultSpec { Provider = "AzureKeyVault" } }, "spec.vault.azureKeyVault (vaultUri, keyName) is required" },
        { "Azure vault over http", Valid() with { Vault = new VaultSpec { Provider = "AzureKeyVault", AzureKeyVault = new AzureKeyVaultSpec { VaultUri = "http://contoso.vault.azure.net", KeyName = "jwt" } } }, "must be the vault's https URL with no path" },
        { "Azure vault URL with a key path", Valid() with { Vault = new VaultSpec { Provider = "AzureKeyVault", AzureKeyVault = new AzureKeyVaultSpec { VaultUri = "https://contoso.vault.azure.net/keys/jwt", KeyName = "jwt" } } }, "must be the vault's https URL with no path" },
        { "PKCS#11 module by relative path", Valid() with { Vault = new VaultSpec { Provider = "Pkcs11", Pkcs11 = new Pkcs11Spec { Library = "libsofthsm2.so", TokenLabel = "t", PinSecretRef = new SecretKeySelector { Name = "pin", Key = "pin" } } } }, "must be the absolute path of the PKCS#11 module" },
        { "PKCS#11 without a PIN Secret", Valid() with { Vault = new VaultSpec { Provider = "Pkcs11", Pkcs11 = new Pkcs11Spec { Library = "/usr/lib/softhsm/libsofthsm2.so", TokenLabel = "t" } } }, "pinSecretRef needs the name and key" },
        { "Azure key name with an underscore", Valid() with { Vault = new VaultSpec { Provider = "AzureKeyVault", AzureKeyVault = new AzureKeyVaultSpec { VaultUri = "https://contoso.vault.azure.net", KeyName = "jwt_keys" } } }, "must be 1-127 letters, digits and dashes" },
        { "huge clock skew", Valid() with { ClockSkew = "1h", Rotation = Valid().Rotation with { Overlap = "3h" } }, "fix the clocks" },
        { "issuer over http", Valid() with { Jwks = new JwksSpec { Issuer = "http://auth.example.com" } }, "spec.jwks.issuer \"http://auth.example.com\" must be an https URL with no query" },
        { "issuer with a query", Valid() with { Jwks = new JwksSpec { Issuer = "https://auth.example.com/?tenant=a" } }, "must be an https URL with no query, fragment" },
        { "issuer with a fragment", Valid() with { Jwks = new JwksSpec { Issuer = "https://auth.example.com/#x" } }, "must be an https URL with no query, fragment" },
        { "issuer with a user name", Valid() with { Jwks = new JwksSpec { Issuer = "https://evil@auth.example.com" } }, "no query, fragment or user name" },
        { "jwksUri over http", Valid() with { Jwks = new JwksSpec { Issuer = "https://auth.example.com", JwksUri = "http://auth.example.com/keys" } }, "spec.jwks.jwksUri \"http://auth.example.com/keys\" must be an https URL" },
        { "jwksUri without an issuer", Valid() with { Jwks = new JwksSpec { JwksUri = "https://auth.example.com/keys" } }, "needs spec.jwks.issuer" },
        { "garbage duration", Valid() with { MaxTokenLifetime = "forever" }, "spec.maxTokenLifetime \"forever\" is not a duration" },
        { "5000 target namespaces", Valid() with { Jwks = new JwksSpec { TargetNamespaces = [.. Enumerable.Range(0, 5000).Select(i => $"team-{i}")] } }, "spec.jwks.targetNamespaces has 5000 entries; at most 100 are allowed" },
        { "a target namespace longer than a DNS label", Valid() with { Jwks = new JwksSpec { TargetNamespaces = ["ok", new string('a', 64)] } }, "spec.jwks.targetNamespaces[1] is 64 characters long; at most 63 are allowed" },
        { "101 revoked kids", Valid() with { RevokedKeyIds = [.. Enumerable.Range(0, 101).Select(i => i.ToString("D43", System.Globalization.CultureInfo.InvariantCulture))] }, "spec.revokedKeyIds has 101 entries; at most 100 are allowed" },
        { "nine publish entries", Valid() with { Publish = [.. Enumerable.Range(0, 9).Select(i => new PublishSpec { Target = "t", Path = $"p{i}" })] }, "spec.publish has 9 entries; at most 8 are allowed" },
        { "an issuer of 3000 characters", Valid() with { Jwks = new JwksSpec { Issuer = "https://auth.example.com/" + new string('a', 2975) } }, "spec.jwks.issuer is 3000 characters long; at most 2048 are allowed" },
        { "a cron of 1000 characters", Valid() with { Rotation = Valid().Rotation with { Interval = null, Cron = new string('0', 1000) } }, "spec.rotation.cron is 1000 characters long; at most 256 are allowed" },
        { "an alert window of 10000 hours", Valid() with { SignatureFailureAlert = new SignatureFailureAlertSpec { Window = "10000h" } }, "spec.signatureFailureAlert.window 10000h is outside 1s..24h; at most 24h is allowed" },
        { "an alert window that is not a duration", Valid() with { SignatureFailureAlert = new SignatureFailureAlertSpec { Window = "soon" } }, "spec.signatureFailureAlert.window \"soon\" is not a duration" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Invalid_spec_says_what_to_change(string description, SigningKeySetSpec spec, string expected)
    {
        var result = SpecValidator.Validate(spec, Options);

        Assert.False(result.IsValid, description);
        Assert.Contains(expected, result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Cron_schedule_follows_the_time_zone()
    {
        var spec = Valid() with { Rotation = Valid().Rotation with { Interval = null, Cron = "0 0 3 ? * MON", TimeZone = "Europe/Berlin" } };
        var policy = SpecValidator.Validate(spec, Options).Policy!;

        // Saturday 2026-11-28 12:00Z; the next Monday 03:00 in Berlin (CET, UTC+1) is 2026-11-30T02:00Z.
        var due = policy.NextDue(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero), TimeSpan.Zero);

        Assert.Equal(new DateTimeOffset(2026, 11, 30, 2, 0, 0, TimeSpan.Zero), due);
    }

    [Fact]
    public void Jitter_is_deterministic_per_set_and_within_bounds()
    {
        var policy = SpecValidator.Validate(Valid() with { Rotation = Valid().Rotation with { Jitter = "10m" } }, Options).Policy!;
        var offsets = Enumerable.Range(0, 200).Select(i => policy.JitterFor($"uid-{i}")).ToList();

        Assert.Equal(policy.JitterFor("uid-7"), policy.JitterFor("uid-7"));
        Assert.All(offsets, o => Assert.InRange(o, TimeSpan.Zero, TimeSpan.FromMinutes(10)));
        Assert.True(offsets.Distinct().Count() > 100, "jitter spreads sets");
    }
}
