using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure;
using Azure.Core;
using Azure.Core.Pipeline;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;

namespace KeyRotator.Operator.Vault.Azure;

/// <summary>A key version as listed (no key material): its id, whether it may sign, when it was made, its tags.</summary>
public sealed record KeyVaultKeyItem(Uri KeyId, bool Enabled, DateTimeOffset? Created, IReadOnlyDictionary<string, string> Tags);

/// <summary>
/// The slice of the Key Vault keys REST API (7.4) that KeyRotator needs, on an Azure.Core pipeline:
/// challenge authentication, retries with backoff for 408/429/5xx and timeouts (honouring
/// Retry-After), and the create limiter. Every failure surfaces as a <see cref="KeyStoreException"/>
/// whose message names the vault, the operation and the vault's own error code, never a token.
/// </summary>
public sealed partial class KeyVaultClient
{
    public const string ApiVersion = "7.4";

    private readonly HttpPipeline _pipeline;

    public KeyVaultClient(TokenCredential credential, KeyVaultClientOptions options, KeyVaultCreateLimiter limiter, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(limiter);
        _pipeline = HttpPipelineBuilder.Build(options, [], [new KeyVaultChallengePolicy(credential, time), limiter.Policy()], new ResponseClassifier());
    }

    /// <summary>Creates a new version of <paramref name="name"/> that can only sign and verify.</summary>
    public async Task<KeyVaultKeyBundle> CreateKeyAsync(Uri vault, string name, JwsAlgorithm algorithm, int rsaKeySize, bool hsm, IReadOnlyDictionary<string, string> tags, CancellationToken cancellationToken)
    {
        var body = new JsonObject
        {
            ["kty"] = (algorithm.IsRsa ? "RSA" : "EC") + (hsm ? "-HSM" : ""),
            ["key_ops"] = new JsonArray("sign", "verify"),
            ["attributes"] = new JsonObject { ["enabled"] = true, ["exportable"] = false },
            ["tags"] = new JsonObject(tags.Select(t => KeyValuePair.Create(t.Key, (JsonNode?)t.Value))),
        };
        if (algorithm.IsRsa)
            body["key_size"] = rsaKeySize;
        else
            body["crv"] = algorithm.Curve;

        using var message = Message(RequestMethod.Post, vault, $"/keys/{Uri.EscapeDataString(name)}/create", body);
        message.SetProperty(KeyVaultCreateLimiter.CreateProperty, hsm);
        message.ResponseClassifier = CreateClassifier.Instance;
        using var json = await SendAsync(message, $"create a version of key {name}", cancellationToken);
        return Parse(vault, "create", () => KeyVaultKeyBundle.Parse(json.RootElement, algorithm));
    }

    /// <summary>One version (or the newest when <paramref name="version"/> is empty); null when the vault has no such key.</summary>
    public async Task<KeyVaultKeyBundle?> GetKeyAsync(Uri vault, string name, string version, JwsAlgorithm algorithm, CancellationToken cancellationToken)
    {
        using var message = Message(RequestMethod.Get, vault, $"/keys/{Uri.EscapeDataString(name)}/{Uri.EscapeDataString(version)}", null);
        using var json = await SendAsync(message, $"read key {name}", true, cancellationToken);
        return json is null ? null : Parse(vault, "read", () => KeyVaultKeyBundle.Parse(json.RootElement, algorithm));
    }

    /// <summary>Every version of <paramref name="name"/>, following nextLink; empty when the key does not exist.</summary>
    public async Task<IReadOnlyList<KeyVaultKeyItem>> ListVersionsAsync(Uri vault, string name, CancellationToken cancellationToken)
    {
        var items = new List<KeyVaultKeyItem>();
        Uri? page = new(vault, $"/keys/{Uri.EscapeDataString(name)}/versions?api-version={ApiVersion}&maxresults=25");
        var pages = 0;
        while (page is not null)
        {
            if (++pages > 1000)
                throw new KeyStoreException($"{Authority(vault)} kept returning nextLink for the versions of key {name}; stopped after 1000 pages") { Reason = "VaultError" };
            if (!string.Equals(page.Host, vault.Host, StringComparison.OrdinalIgnoreCase) || page.Scheme != Uri.UriSchemeHttps)
                throw new KeyStoreException($"{Authority(vault)} returned a nextLink to another host ({page.Host}); refusing to follow it") { Reason = "VaultError" };

            using var message = _pipeline.CreateMessage();
            message.Request.Method = RequestMethod.Get;
            message.Request.Uri.Reset(page);
            message.Request.Headers.SetValue("Accept", "application/json");
            using var json = await SendAsync(message, $"list the versions of key {name}", true, cancellationToken);
            if (json is null)
                return items;
            page = Parse(vault, "list", () =>
            {
                foreach (var item in json.RootElement.GetProperty("value").EnumerateArray())
                    items.Add(ParseItem(item));
                return json.RootElement.TryGetProperty("nextLink", out var next) && next.GetString() is { Length: > 0 } link ? new Uri(link) : null;
            });
        }

        return items;
    }

    /// <summary>Sets whether the version may be used and, when given, replaces its tags (Key Vault does not merge them).</summary>
    public async Task UpdateKeyAsync(Uri keyId, bool enabled, IReadOnlyDictionary<string, string>? tags, CancellationToken cancellationToken)
    {
        var body = new JsonObject { ["attributes"] = new JsonObject { ["enabled"] = enabled } };
        if (tags is not null)
            body["tags"] = new JsonObject(tags.Select(t => KeyValuePair.Create(t.Key, (JsonNode?)t.Value)));
        using var message = Message(RequestMethod.Patch, keyId, keyId.AbsolutePath, body);
        (await SendAsync(message, $"update key version {keyId.AbsolutePath}", true, cancellationToken))?.Dispose();
    }

    /// <summary>Deletes every version of the key (soft delete); false when there was nothing to delete.</summary>
    public async Task<bool> DeleteKeyAsync(Uri vault, string name, CancellationToken cancellationToken)
    {
        using var message = Message(RequestMethod.Delete, vault, $"/keys/{Uri.EscapeDataString(name)}", null);
        using var deleted = await SendAsync(message, $"delete key {name}", true, cancellationToken);
        return deleted is not null;
    }

    /// <summary>Purges a soft-deleted key. False while the deletion is still in progress (409) or when purge protection forbids it (403).</summary>
    public async Task<bool> PurgeDeletedKeyAsync(Uri vault, string name, CancellationToken cancellationToken)
    {
        using var message = Message(RequestMethod.Delete, vault, $"/deletedkeys/{Uri.EscapeDataString(name)}", null);
        try
        {
            (await SendAsync(message, $"purge deleted key {name}", true, cancellationToken))?.Dispose();
            return true;
        }
        catch (KeyStoreException e) when (e.Reason is "VaultConflict" or "VaultAccessDenied")
        {
            return false;
        }
    }

    /// <summary>Signs a digest with the version; the JWS signature bytes (raw R||S for ES*).</summary>
    public async Task<byte[]> SignDigestAsync(Uri keyId, JwsAlgorithm algorithm, byte[] digest, CancellationToken cancellationToken)
    {
        var body = new JsonObject { ["alg"] = algorithm.Name, ["value"] = Base64Url.Encode(digest) };
        using var message = Message(RequestMethod.Post, keyId, keyId.AbsolutePath.TrimEnd('/') + "/sign", body);
        using var json = await SendAsync(message, $"sign with {keyId.AbsolutePath}", cancellationToken);
        return Parse(keyId, "sign", () => Base64Url.Decode(json.RootElement.GetProperty("value").GetString()!));
    }

    private HttpMessage Message(RequestMethod method, Uri vault, string path, JsonNode? body)
    {
        var message = _pipeline.CreateMessage();
        message.Request.Method = method;
        message.Request.Uri.Reset(new Uri(vault, path));
        message.Request.Uri.AppendQuery("api-version", ApiVersion);
        message.Request.Headers.SetValue("Accept", "application/json");
        if (body is not null)
        {
            message.Request.Headers.SetValue("Content-Type", "application/json");
            message.Request.Content = RequestContent.Create(BinaryData.FromString(body.ToJsonString()));
        }

        return message;
    }

    private Task<JsonDocument> SendAsync(HttpMessage message, string operation, CancellationToken cancellationToken) =>
        SendAsync(message, operation, false, cancellationToken)!;

    private async Task<JsonDocument?> SendAsync(HttpMessage message, string operation, bool allowNotFound, CancellationToken cancellationToken)
    {
        var vault = Authority(message.Request.Uri.ToUri());
        try
        {
            await _pipeline.SendAsync(message, cancellationToken);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new KeyStoreException($"{vault} did not answer in time to {operation}") { Reason = "VaultUnavailable", OutcomeUnknown = true };
        }
        catch (RequestFailedException e) when (e.Status == 0)
        {
            throw new KeyStoreException($"could not reach {vault} to {operation}: {e.InnerException?.Message ?? e.Message}") { Reason = "VaultUnavailable", OutcomeUnknown = true };
        }
        catch (AggregateException e) when (!cancellationToken.IsCancellationRequested)
        {
            // Azure.Core's retry policy gave up: every attempt timed out or could not connect.
            var last = e.InnerExceptions[^1];
            throw new KeyStoreException(last is OperationCanceledException
                ? $"{vault} did not answer in time to {operation} ({e.InnerExceptions.Count} attempts)"
                : $"could not reach {vault} to {operation} ({e.InnerExceptions.Count} attempts): {(last as RequestFailedException)?.InnerException?.Message ?? last.Message}")
            {
                Reason = "VaultUnavailable",
                OutcomeUnknown = true,
            };
        }

        var response = message.Response;
        if (response.Status == (int)HttpStatusCode.NotFound && allowNotFound)
            return null;
        if (response.Status is >= 200 and < 300)
        {
            if (response.Status == (int)HttpStatusCode.NoContent || response.Content.ToMemory().Length == 0)
                return JsonDocument.Parse("{}");
            try
            {
                return JsonDocument.Parse(response.Content.ToMemory());
            }
            catch (JsonException)
            {
                throw new KeyStoreException($"{vault} answered {operation} with a body that is not JSON (HTTP {response.Status}); nothing was assumed from it") { Reason = "VaultError", OutcomeUnknown = true };
            }
        }

        var (code, inner, text) = ErrorOf(response);
        var detail = $"{vault} refused to {operation}: HTTP {response.Status} {code}{(inner is null ? "" : "/" + inner)}{(text is null ? "" : $" ({text})")}";
        throw new KeyStoreException(response.Status switch
        {
            401 => detail + "; the operator's token was not accepted",
            403 => detail + "; grant the operator's identity the Key Vault Crypto Officer role on this vault (or key permissions create, get, list, update, delete, purge, sign)",
            429 => detail + "; the vault is throttling and retries with backoff did not get through",
            _ => detail,
        })
        {
            Reason = response.Status switch
            {
                401 or 403 => "VaultAccessDenied",
                404 => Reasons.KeyMissing,
                409 when inner == "ObjectIsDeletedButRecoverable" || code == "ObjectIsDeletedButRecoverable" => "VaultKeyDeletedButRecoverable",
                409 => "VaultConflict",
                429 => "VaultThrottled",
                >= 500 or 408 => "VaultUnavailable",
                _ => "VaultError",
            },
            OutcomeUnknown = response.Status is >= 500 or 408,
        };
    }
}

/// <summary>Pipeline options for the Key Vault client: retries, timeouts and transport (tests swap the transport).</summary>
public sealed class KeyVaultClientOptions : ClientOptions
{
    public KeyVaultClientOptions()
    {
        Retry.Mode = RetryMode.Exponential;
        Retry.MaxRetries = 4;
        Retry.Delay = TimeSpan.FromSeconds(1);
        Retry.MaxDelay = TimeSpan.FromSeconds(30);
        Retry.NetworkTimeout = TimeSpan.FromSeconds(30);
        Diagnostics.IsLoggingContentEnabled = false;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"retries {Retry.MaxRetries}, timeout {Retry.NetworkTimeout}");
}
