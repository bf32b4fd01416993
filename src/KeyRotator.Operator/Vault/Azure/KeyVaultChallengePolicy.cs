using System.Collections.Concurrent;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Identity;

namespace KeyRotator.Operator.Vault.Azure;

/// <summary>
/// Key Vault's challenge-based authentication on an Azure.Core pipeline. The first request to a vault
/// goes without a token and without its body; the vault's 401 challenge names the resource and tenant,
/// which are checked against the vault host and cached per vault; the request is then sent again with
/// a token for that resource. Tokens are cached until five minutes before they expire.
/// </summary>
public sealed class KeyVaultChallengePolicy(TokenCredential credential, TimeProvider time) : HttpPipelinePolicy
{
    private static readonly TimeSpan RefreshMargin = TimeSpan.FromMinutes(5);
    private readonly ConcurrentDictionary<string, KeyVaultChallenge> _challenges = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<KeyVaultChallenge, AccessToken> _tokens = new();

    public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline) =>
        ProcessAsync(message, pipeline).AsTask().GetAwaiter().GetResult();

    public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        var uri = message.Request.Uri.ToUri();
        var vault = uri.GetLeftPart(UriPartial.Authority);
        RequestContent? withheld = null;
        var cached = _challenges.TryGetValue(vault, out var challenge);
        if (cached)
        {
            await AuthorizeAsync(message, challenge!, refresh: false);
        }
        else
        {
            // Nothing but the request line leaves before the vault says who should be trusted with it.
            withheld = message.Request.Content;
            message.Request.Content = null;
        }

        await ProcessNextAsync(message, pipeline);
        if (message.Response.Status != 401 || !message.Response.Headers.TryGetValue("WWW-Authenticate", out var header))
            return;

        challenge = KeyVaultChallenge.Parse(header, uri);
        _challenges[vault] = challenge;
        if (withheld is not null)
            message.Request.Content = withheld;
        await AuthorizeAsync(message, challenge, refresh: cached);
        await ProcessNextAsync(message, pipeline);
    }

    private async ValueTask AuthorizeAsync(HttpMessage message, KeyVaultChallenge challenge, bool refresh)
    {
        if (refresh || !_tokens.TryGetValue(challenge, out var token) || token.ExpiresOn - RefreshMargin <= time.GetUtcNow())
        {
            try
            {
                token = await credential.GetTokenAsync(new TokenRequestContext([challenge.Scope], tenantId: challenge.TenantId), message.CancellationToken);
            }
            catch (Exception e) when (e is AuthenticationFailedException or CredentialUnavailableException)
            {
                // Azure.Identity's messages name the credential and what is missing; they carry no secrets.
                throw new KeyStoreException($"could not get an Entra ID token for {challenge.Scope}: {FirstLine(e.Message)}") { Reason = "VaultAccessDenied" };
            }

            _tokens[challenge] = token;
        }

        message.Request.Headers.SetValue(HttpHeader.Names.Authorization, "Bearer " + token.Token);
    }

    private static string FirstLine(string text)
    {
        var line = text.Split('\n', 2)[0].Trim();
        return line.Length > 300 ? line[..300] + "…" : line;
    }
}
