using System.Buffers;
using System.Buffers.Text;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace KeyRotator.Client;

/// <summary>
/// Verifies a JWT against the KeyRotator JWKS with the hardening checklist, in order: a well-formed
/// compact JWS; an alg that is present, asymmetric, published, and the key's own; a kid the JWKS
/// holds; the signature; then iss, aud, exp, nbf, iat and the maximum lifetime. Tokens above
/// <see cref="MaximumTokenSizeInBytes"/> and tokens with a crit header are malformed. Every rejection is
/// classified, counted, and handed to the failure sink.
/// </summary>
public sealed class KeyRotatorTokenValidator(
    JwksFileSource jwks, KeyRotatorValidationOptions options, TimeProvider? time = null, ClientMetrics? metrics = null, IFailureSink? sink = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>
    /// Tokens longer than this (in bytes of their compact form) are refused before anything is parsed,
    /// the bound Microsoft.IdentityModel's handlers use (TokenValidationParameters.DefaultMaximumTokenSizeInBytes).
    /// </summary>
    public const int MaximumTokenSizeInBytes = TokenValidationParameters.DefaultMaximumTokenSizeInBytes;

    /// <summary>
    /// The verifying provider of each published key, made once per key (the JWKS snapshot owns the
    /// keys, so they go when a reload drops the key): a token costs no provider and no parameters object.
    /// </summary>
    private readonly ConditionalWeakTable<JsonWebKey, SignatureProvider?> _verifiers = [];

    /// <summary>
    /// Verifies the JWS signature with the key, for the key's own alg (already checked to be the
    /// token's): RFC 7515's signing input, the header and payload as sent, against the decoded signature.
    /// </summary>
    private bool SignatureVerifies(JsonWebToken jwt, JsonWebKey key)
    {
        var provider = _verifiers.GetValue(key, static k =>
        {
            try
            {
                return CryptoProviderFactory.Default.CreateForVerifying(k, k.Alg);
            }
            catch (Exception e) when (e is NotSupportedException or ArgumentException or InvalidOperationException or System.Security.Cryptography.CryptographicException)
            {
                return null; // a published key this runtime cannot use verifies nothing
            }
        });
        if (provider is null)
            return false;

        // The token parsed as a compact JWS (three parts): what precedes the last dot is signed, what
        // follows is the signature. Spans of the token as sent, no substrings.
        var token = jwt.EncodedToken.AsSpan();
        var signedLength = token.LastIndexOf('.');
        var encodedSignature = token[(signedLength + 1)..];
        var input = ArrayPool<byte>.Shared.Rent(signedLength);
        var signature = ArrayPool<byte>.Shared.Rent(Base64Url.GetMaxDecodedLength(encodedSignature.Length));
        try
        {
            var inputLength = Encoding.ASCII.GetBytes(token[..signedLength], input);
            if (Base64Url.DecodeFromChars(encodedSignature, signature, out _, out var signatureLength) != OperationStatus.Done || signatureLength == 0)
                return false;
            return provider.Verify(input, 0, inputLength, signature, 0, signatureLength);
        }
        catch (Exception e) when (e is ArgumentException or System.Security.Cryptography.CryptographicException)
        {
            return false;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(input);
            ArrayPool<byte>.Shared.Return(signature);
        }
    }

    public static bool IsAsymmetric(string? alg) =>
        alg is "RS256" or "RS384" or "RS512" or "PS256" or "PS384" or "PS512" or "ES256" or "ES384" or "ES512";

    public Task<KeyRotatorValidationResult> ValidateAsync(string token)
    {
        var result = Check(token);
        if (result.IsValid)
        {
            metrics?.Validated(result.Kid!);
        }
        else
        {
            metrics?.Rejected(result.Reason!.Value, result.Kid);
            sink?.Record(result.Reason!.Value, result.Kid);
        }

        return Task.FromResult(result);
    }

    private KeyRotatorValidationResult Check(string token)
    {
        // A compact JWS is ASCII: its length in chars is its size in bytes.
        if (token.Length > MaximumTokenSizeInBytes)
            return KeyRotatorValidationResult.Failure(FailureReason.Malformed, null, $"the token is larger than {MaximumTokenSizeInBytes} bytes");

        JsonWebToken jwt;
        try
        {
            jwt = new JsonWebToken(token);
        }
        catch (ArgumentException)
        {
            return KeyRotatorValidationResult.Failure(FailureReason.Malformed, null, "not a compact JWS");
        }

        var alg = jwt.TryGetHeaderValue<string>("alg", out var a) ? a : null;
        var kid = jwt.TryGetHeaderValue<string>("kid", out var k) ? k : null;

        // RFC 7515 §4.1.11: a recipient must reject a JWS whose crit lists an extension it does not
        // understand. This validator understands none, so any crit header is refused.
        if (jwt.TryGetHeaderValue<object>("crit", out _))
            return KeyRotatorValidationResult.Failure(FailureReason.Malformed, kid, "the token's crit header names extensions this validator does not understand");

        var snapshot = jwks.Current;

        if (string.IsNullOrEmpty(alg))
            return KeyRotatorValidationResult.Failure(FailureReason.AlgRejected, kid, "the token has no alg");
        if (!IsAsymmetric(alg))
            return KeyRotatorValidationResult.Failure(FailureReason.AlgRejected, kid, $"alg {alg} is never accepted (only asymmetric algorithms)");
        if (snapshot.Keys.Count == 0)
            return KeyRotatorValidationResult.Failure(FailureReason.UnknownKid, kid, "the JWKS holds no key (every key revoked, or none published yet)");
        if (!snapshot.Algorithms.Contains(alg))
            return KeyRotatorValidationResult.Failure(FailureReason.AlgRejected, kid, $"alg {alg} is not among the published algorithms");
        if (string.IsNullOrEmpty(kid))
            return KeyRotatorValidationResult.Failure(FailureReason.UnknownKid, null, "the token has no kid");
        if (!snapshot.Keys.TryGetValue(kid, out var key))
            return KeyRotatorValidationResult.Failure(FailureReason.UnknownKid, kid, "the kid is not in the JWKS");
        if (key.Alg != alg)
            return KeyRotatorValidationResult.Failure(FailureReason.AlgRejected, kid, $"key {kid} is for {key.Alg}, not {alg}");

        if (!SignatureVerifies(jwt, key))
            return KeyRotatorValidationResult.Failure(FailureReason.BadSignature, kid, "the signature does not verify");

        if (!options.ValidIssuers.Contains(jwt.Issuer))
            return KeyRotatorValidationResult.Failure(FailureReason.Issuer, kid, string.IsNullOrEmpty(jwt.Issuer) ? "the token has no iss" : "the issuer is not accepted");
        if (!jwt.Audiences.Any(options.ValidAudiences.Contains))
            return KeyRotatorValidationResult.Failure(FailureReason.Audience, kid, jwt.Audiences.Any() ? "the audience is not accepted" : "the token has no aud");

        var now = _time.GetUtcNow().UtcDateTime;
        var skew = options.ClockSkew;
        if (!jwt.TryGetPayloadValue<long>("exp", out _))
            return KeyRotatorValidationResult.Failure(FailureReason.Lifetime, kid, "the token has no exp");
        if (jwt.ValidTo + skew < now)
            return KeyRotatorValidationResult.Failure(FailureReason.Expired, kid, "the token has expired");
        var hasNbf = jwt.TryGetPayloadValue<long>("nbf", out _);
        var hasIat = jwt.TryGetPayloadValue<long>("iat", out _);
        if (hasNbf && jwt.ValidFrom - skew > now)
            return KeyRotatorValidationResult.Failure(FailureReason.NotYetValid, kid, "the token is not valid yet (nbf)");
        if (hasIat && jwt.IssuedAt - skew > now)
            return KeyRotatorValidationResult.Failure(FailureReason.NotYetValid, kid, "the token was issued in the future (iat)");
        if (!hasNbf && !hasIat)
            return KeyRotatorValidationResult.Failure(FailureReason.Lifetime, kid, "the token has neither iat nor nbf, so its lifetime is unbounded");
        var start = hasNbf ? jwt.ValidFrom : jwt.IssuedAt;
        if (jwt.ValidTo - start > options.MaxTokenLifetime)
            return KeyRotatorValidationResult.Failure(FailureReason.Lifetime, kid, $"the token lives {jwt.ValidTo - start}, more than {options.MaxTokenLifetime}");

        return KeyRotatorValidationResult.Success(kid, jwt);
    }
}
