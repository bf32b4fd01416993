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

        var parameters = Parameters(trimmed["Bearer ".Length..]);

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

    /// <summary>
    /// The auth-params of a challenge (RFC 9110 §11.2): <c>name=token</c> or <c>name="quoted string"</c>,
    /// comma-separated. A quoted value may hold commas, equals signs and backslash escapes, and is read
    /// to its closing quote, so that nothing inside one (an error_description) can pass for a parameter.
    /// The first occurrence of a name counts.
    /// </summary>
    private static Dictionary<string, string> Parameters(string text)
    {
        var parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var i = 0;
        while (i < text.Length)
        {
            while (i < text.Length && (text[i] == ',' || char.IsWhiteSpace(text[i])))
                i++;
            var nameStart = i;
            while (i < text.Length && text[i] != '=' && text[i] != ',')
                i++;
            var name = text[nameStart..i].Trim();
            if (i >= text.Length || text[i] == ',')
                continue; // a bare token68 or an empty item: not a parameter
            i++; // '='
            while (i < text.Length && char.IsWhiteSpace(text[i]))
                i++;
            var value = new System.Text.StringBuilder();
            if (i < text.Length && text[i] == '"')
            {
                for (i++; i < text.Length && text[i] != '"'; i++)
                {
                    if (text[i] == '\\' && i + 1 < text.Length)
                        i++;
                    value.Append(text[i]);
                }

                i++; // the closing quote
            }
            else
            {
                while (i < text.Length && text[i] != ',')
                    value.Append(text[i++]);
            }

            if (name.Length > 0)
                parameters.TryAdd(name, value.ToString().Trim());
        }

        return parameters;
    }

    private static string FirstWord(string value) => value.Split(' ', 2)[0];

    private static KeyStoreException Refused(Uri vault, string why) =>
        new($"refused to authenticate to {vault.GetLeftPart(UriPartial.Authority)}: {why}") { Reason = "VaultAccessDenied" };
}
