using KeyRotator.Operator.Vault;
using KeyRotator.Operator.Vault.Azure;

namespace KeyRotator.Operator.Tests.Vault;

/// <summary>The vault's 401 challenge, read as RFC 9110 auth-params: quoted values are values, whatever they hold.</summary>
public sealed class KeyVaultChallengeTests
{
    private static readonly Uri Vault = new("https://contoso.vault.azure.net");
    private const string Tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    [Fact]
    public void The_recorded_challenge_names_the_tenant_and_the_vault_scope()
    {
        var challenge = KeyVaultChallenge.Parse($"Bearer authorization=\"https://login.microsoftonline.com/{Tenant}\", resource=\"https://vault.azure.net\"", Vault);

        Assert.Equal(new KeyVaultChallenge("https://vault.azure.net/.default", Tenant), challenge);
    }

    [Fact]
    public void A_comma_inside_a_quoted_value_does_not_start_a_parameter()
    {
        // Split on every comma, the description would yield scope=https://other.example/.default, a
        // scope the operator would refuse (or, for a matching host, ask a token for).
        var header = $"Bearer authorization=\"https://login.microsoftonline.com/{Tenant}\", error=\"invalid_token\", " +
            "error_description=\"The token is expired, scope=https://other.example/.default\", resource=\"https://vault.azure.net\"";

        var challenge = KeyVaultChallenge.Parse(header, Vault);

        Assert.Equal(new KeyVaultChallenge("https://vault.azure.net/.default", Tenant), challenge);
    }

    [Fact]
    public void Escaped_quotes_and_unquoted_tokens_are_read_as_values()
    {
        var header = $"Bearer error_description=\"say \\\"no, thanks\\\"\",authorization_uri=https://login.microsoftonline.com/{Tenant},scope=\"https://vault.azure.net/.default\"";

        Assert.Equal(new KeyVaultChallenge("https://vault.azure.net/.default", Tenant), KeyVaultChallenge.Parse(header, Vault));
    }

    [Fact]
    public void A_challenge_for_another_host_is_still_refused()
    {
        var error = Assert.Throws<KeyStoreException>(() => KeyVaultChallenge.Parse("Bearer resource=\"https://evil.example\"", Vault));

        Assert.Equal("VaultAccessDenied", error.Reason);
        Assert.Contains("does not match the vault host contoso.vault.azure.net", error.Message, StringComparison.Ordinal);
    }
}
