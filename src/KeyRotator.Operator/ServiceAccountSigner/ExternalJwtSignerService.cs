using System.Buffers.Text;
using System.Text;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using KeyRotator.ExternalJwt;
using KeyRotator.Operator.Vault;
using Microsoft.Extensions.Logging;

namespace KeyRotator.Operator.ServiceAccountSigner;

/// <summary>
/// Kubernetes' ExternalJWTSigner v1 for the issuer set, on the signer's Unix socket (whoever may open
/// the socket may sign: its file mode is 0600, for the API server's user). Sign signs only with the key
/// the signing Secret names, and only when that key is among the keys FetchKeys returns; a vault that
/// cannot sign answers Unavailable, never a token signed with another key.
/// </summary>
public sealed partial class ExternalJwtSignerService(IssuerFollower follower, ILogger<ExternalJwtSignerService> logger) : ExternalJWTSigner.ExternalJWTSignerBase
{
    /// <summary>A payload larger than this is no service-account token.</summary>
    public const int MaximumClaimsLength = 64 * 1024;

    public override Task<MetadataResponse> Metadata(MetadataRequest request, ServerCallContext context)
    {
        var snapshot = Serving();
        return Task.FromResult(new MetadataResponse { MaxTokenExpirationSeconds = (long)snapshot.Serving.MaxTokenLifetime.TotalSeconds });
    }

    public override Task<FetchKeysResponse> FetchKeys(FetchKeysRequest request, ServerCallContext context)
    {
        var snapshot = Serving();
        var response = new FetchKeysResponse
        {
            DataTimestamp = Timestamp.FromDateTimeOffset(snapshot.ReadAt),
            RefreshHintSeconds = (long)snapshot.Serving.RefreshHint.TotalSeconds,
        };
        foreach (var (kid, der) in snapshot.Keys)
            response.Keys.Add(new Key { KeyId = kid, Key_ = der, ExcludeFromOidcDiscovery = false });
        return Task.FromResult(response);
    }

    public override async Task<SignJWTResponse> Sign(SignJWTRequest request, ServerCallContext context)
    {
        if (request.Claims.Length is 0 or > MaximumClaimsLength || !Base64Url.IsValid(request.Claims) || request.Claims.Contains('=', StringComparison.Ordinal))
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"claims must be the token payload in base64url without padding, 1-{MaximumClaimsLength} characters"));
        var snapshot = Serving();
        if (snapshot.EncodedHeader is not { } header || snapshot.Signature is not { } sign)
            throw new RpcException(new Status(StatusCode.Unavailable, snapshot.Serving.SignRefusal ?? snapshot.SignProblem ?? "no signing key"));

        var input = Encoding.ASCII.GetBytes($"{header}.{request.Claims}");
        byte[] signature;
        try
        {
            signature = await sign(input, context.CancellationToken);
        }
        catch (KeyStoreException e)
        {
            LogVaultRefused(logger, snapshot.Serving.SigningKey!.Kid, e.Reason);
            throw new RpcException(new Status(StatusCode.Unavailable, $"the vault could not sign with {snapshot.Serving.SigningKey.Kid} ({e.Reason})"));
        }

        return new SignJWTResponse { Header = header, Signature = KeyRotator.Model.Jose.Base64Url.Encode(signature) };
    }

    /// <summary>The reading to answer from; the reason as the call's status when there is none.</summary>
    private IssuerSnapshot Serving()
    {
        var snapshot = follower.Current
            ?? throw new RpcException(new Status(StatusCode.Unavailable, "the signer has not read its SigningKeySet yet"));
        if (snapshot.Serving.Refusal is { } refusal)
            throw new RpcException(new Status(StatusCode.FailedPrecondition, refusal));
        return snapshot;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The vault refused to sign with {Kid} ({Reason}); Sign answered Unavailable")]
    private static partial void LogVaultRefused(ILogger logger, string kid, string? reason);
}
