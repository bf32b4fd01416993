using System.Text.Json;
using Azure;
using Azure.Core;

namespace KeyRotator.Operator.Vault.Azure;

/// <summary>Reading the vault's answers: error bodies, key items, and bodies that do not have the documented shape.</summary>
public sealed partial class KeyVaultClient
{
    private static (string Code, string? Inner, string? Message) ErrorOf(Response response)
    {
        try
        {
            using var json = JsonDocument.Parse(response.Content.ToMemory());
            var error = json.RootElement.GetProperty("error");
            var code = error.TryGetProperty("code", out var c) ? c.GetString() ?? "" : "";
            var inner = error.TryGetProperty("innererror", out var i) && i.ValueKind == JsonValueKind.Object && i.TryGetProperty("code", out var ic) ? ic.GetString() : null;
            var text = error.TryGetProperty("message", out var m) ? m.GetString() : null;
            return (code, inner, text is { Length: > 300 } ? text[..300] + "…" : text);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return (response.ReasonPhrase, null, null);
        }
    }

    private static KeyVaultKeyItem ParseItem(JsonElement item)
    {
        var (enabled, created, tags) = KeyVaultKeyBundle.ParseAttributes(item);
        return new KeyVaultKeyItem(new Uri(item.GetProperty("kid").GetString()!), enabled, created, tags);
    }

    /// <summary>Turns a body that does not have the documented shape into a clear error instead of a crash.</summary>
    private static T Parse<T>(Uri vault, string operation, Func<T> parse)
    {
        try
        {
            return parse();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or ArgumentException)
        {
            throw new KeyStoreException($"{Authority(vault)} answered {operation} with a body KeyRotator cannot read ({e.GetType().Name}); nothing was assumed from it") { Reason = "VaultError", OutcomeUnknown = true };
        }
    }

    private static string Authority(Uri uri) => uri.GetLeftPart(UriPartial.Authority);
}

/// <summary>
/// A create that timed out or failed with 5xx may still have made a key version, and a blind retry
/// would make a second one. Only 429 (the vault did not process the request) is retried by the
/// pipeline; anything else goes back to the key store, which lists the versions and adopts the one
/// that landed before trying again.
/// </summary>
internal sealed class CreateClassifier : ResponseClassifier
{
    public static readonly CreateClassifier Instance = new();

    public override bool IsRetriableResponse(HttpMessage message) => message.Response.Status == 429;

    public override bool IsRetriableException(Exception exception) => false;

    public override bool IsRetriable(HttpMessage message, Exception exception) => false;
}
