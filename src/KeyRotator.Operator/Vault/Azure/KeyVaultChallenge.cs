namespace KeyRotator.Operator.Vault.Azure;

/// <summary>
/// What a vault asks for in its 401 <c>WWW-Authenticate: Bearer authorization="…", resource="…"</c>
/// challenge: a token for <see cref="Scope"/> from the tenant in <see cref="TenantId"/>.
/// </summary>
public sealed record KeyVaultChallenge(string Scope, string? TenantId)
{
    /// <summary>
    /// Parses the challenge and checks that the resource it names belongs to <paramref name="vault"/>'s
    /// host (e.g. vault.azure.net for contoso.vault.azure.net), so a host that is not a Key Vault can
    /// never obtain a Key Vault token from the operator.
    /// </summary>
    public static KeyVaultChallenge Parse(string header, Uri vault)
    {
        var trimmed = header.Trim();
        if (!trimmed.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            throw Refused(vault, $"it asked for \"{FirstWord(trimmed)}\" authentication, not Bearer");

        var parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var part in trimmed["Bearer ".Length..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var equals = part.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0)
                parameters[part[..equals].Trim()] = part[(equals + 1)..].Trim().Trim('"');
        }

        string? scope = null;
        if (parameters.TryGetValue("scope", out var s) && s.Length > 0)
            scope = s;
        else if (parameters.TryGetValue("resource", out var resource) && resource.Length > 0)
            scope = resource.TrimEnd('/') + "/.default";
        if (scope is null || !Uri.TryCreate(scope, UriKind.Absolute, out var scopeUri) || scopeUri.Scheme != Uri.UriSchemeHttps)
            throw Refused(vault, "its challenge names no https resource or scope");

        var host = vault.Host;
        var resourceHost = scopeUri.Host;
        if (!host.Equals(resourceHost, StringComparison.OrdinalIgnoreCase) && !host.EndsWith("." + resourceHost, StringComparison.OrdinalIgnoreCase))
            throw Refused(vault, $"it asked for a token for {scopeUri.GetLeftPart(UriPartial.Authority)}, which does not match the vault host {host}; check spec.vault.azureKeyVault.vaultUri");

        string? tenant = null;
        var authority = parameters.GetValueOrDefault("authorization") ?? parameters.GetValueOrDefault("authorization_uri");
        if (authority is not null && Uri.TryCreate(authority, UriKind.Absolute, out var authorityUri) && authorityUri.Segments.Length > 1)
            tenant = authorityUri.Segments[1].TrimEnd('/');
        return new KeyVaultChallenge(scope, string.IsNullOrEmpty(tenant) ? null : tenant);
    }

    private static string FirstWord(string value) => value.Split(' ', 2)[0];

    private static KeyStoreException Refused(Uri vault, string why) =>
        new($"refused to authenticate to {vault.GetLeftPart(UriPartial.Authority)}: {why}") { Reason = "VaultAccessDenied" };
}
