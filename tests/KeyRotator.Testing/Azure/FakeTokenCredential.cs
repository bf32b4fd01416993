using System.Collections.Concurrent;
using Azure.Core;

namespace KeyRotator.Testing.Azure;

/// <summary>
/// Stands in for Entra ID (which cannot run here): hands out opaque tokens and records what was asked
/// for, so tests can see the scope and tenant the vault's challenge led to.
/// </summary>
public sealed class FakeTokenCredential : TokenCredential
{
    public const string TokenPrefix = "fake-entra-token-";
    private int _issued;

    public ConcurrentQueue<TokenRequestContext> Requests { get; } = new();

    public int Issued => Volatile.Read(ref _issued);

    public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
        GetTokenAsync(requestContext, cancellationToken).AsTask().GetAwaiter().GetResult();

    public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken)
    {
        Requests.Enqueue(requestContext);
        var n = Interlocked.Increment(ref _issued);
        return ValueTask.FromResult(new AccessToken(TokenPrefix + n, DateTimeOffset.UtcNow.AddHours(1)));
    }
}
