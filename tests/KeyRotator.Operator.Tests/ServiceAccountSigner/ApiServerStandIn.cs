using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using Grpc.Net.Client;
using KeyRotator.ExternalJwt;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace KeyRotator.Operator.Tests.ServiceAccountSigner;

/// <summary>
/// Plays kube-apiserver's side of ExternalJWTSigner v1, written from the published contract rather than
/// from the signer: it dials the Unix socket, checks every answer as the API server does (Metadata at
/// least 600 s; FetchKeys keys PKIX-parsable, kids 1-1024 characters, refresh hint above zero; a Sign
/// header of exactly alg, kid and typ "JWT", alg one of RS256/ES256/ES384/ES512, its kid among the last
/// FetchKeys answer and not excluded from discovery) and assembles header.claims.signature as the API
/// server does. Any departure fails the test with what the API server would have refused.
/// </summary>
internal sealed class ApiServerStandIn : IDisposable
{
    private static readonly string[] Accepted = ["RS256", "ES256", "ES384", "ES512"];
    private readonly GrpcChannel _channel;
    private readonly ExternalJWTSigner.ExternalJWTSignerClient _client;

    private ApiServerStandIn(string socket)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellationToken) =>
            {
                var unix = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await unix.ConnectAsync(new UnixDomainSocketEndPoint(socket), cancellationToken);
                    return new NetworkStream(unix, ownsSocket: true);
                }
                catch
                {
                    unix.Dispose();
                    throw;
                }
            },
        };
        _channel = GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions { HttpHandler = handler });
        _client = new ExternalJWTSigner.ExternalJWTSignerClient(_channel);
    }

    /// <summary>The keys of the last FetchKeys answer, by kid, and whether each is excluded from discovery.</summary>
    public IReadOnlyDictionary<string, (SecurityKey Key, bool Excluded)> LastKeys { get; private set; } = new Dictionary<string, (SecurityKey, bool)>();

    public FetchKeysResponse? LastAnswer { get; private set; }

    public static ApiServerStandIn Dial(string socket) => new(socket);

    /// <summary>What the API server reads once at start; it refuses to start below 600 s.</summary>
    public async Task<long> MetadataAsync(CancellationToken cancellationToken)
    {
        var answer = await _client.MetadataAsync(new MetadataRequest(), cancellationToken: cancellationToken);
        Assert.True(answer.MaxTokenExpirationSeconds >= 600, $"max_token_expiration_seconds {answer.MaxTokenExpirationSeconds} < 600: the API server would exit");
        return answer.MaxTokenExpirationSeconds;
    }

    public async Task<FetchKeysResponse> FetchKeysAsync(CancellationToken cancellationToken)
    {
        var answer = await _client.FetchKeysAsync(new FetchKeysRequest(), cancellationToken: cancellationToken);
        Assert.True(answer.RefreshHintSeconds > 0, $"refresh_hint_seconds {answer.RefreshHintSeconds}: the API server treats <= 0 as a misconfiguration");
        Assert.NotNull(answer.DataTimestamp);
        var keys = new Dictionary<string, (SecurityKey, bool)>(StringComparer.Ordinal);
        foreach (var key in answer.Keys)
        {
            Assert.True(key.KeyId.Length is > 0 and <= 1024, $"key_id of {key.KeyId.Length} characters");
            keys.Add(key.KeyId, (ParsePkix(key.KeyId, key.Key_.ToByteArray()), key.ExcludeFromOidcDiscovery));
        }

        LastKeys = keys;
        LastAnswer = answer;
        return answer;
    }

    /// <summary>Signs <paramref name="claims"/> through the signer and returns the token as the API server assembles it.</summary>
    public async Task<(string Token, string Kid)> IssueAsync(IReadOnlyDictionary<string, object> claims, CancellationToken cancellationToken)
    {
        var payload = Base64UrlEncoder.Encode(JsonSerializer.SerializeToUtf8Bytes(claims));
        var answer = await _client.SignAsync(new SignJWTRequest { Claims = payload }, cancellationToken: cancellationToken);
        var kid = CheckHeader(answer.Header);
        Assert.True(LastKeys.TryGetValue(kid, out var known), $"the token's kid {kid} is not in the last FetchKeys answer");
        Assert.False(known.Excluded, $"the token's kid {kid} is excluded from OIDC discovery");
        Assert.DoesNotContain('=', answer.Signature);
        return ($"{answer.Header}.{payload}.{answer.Signature}", kid);
    }

    /// <summary>Verifies <paramref name="token"/> with Microsoft.IdentityModel against the keys of a FetchKeys answer.</summary>
    public static async Task<TokenValidationResult> VerifyAsync(string token, IReadOnlyDictionary<string, (SecurityKey Key, bool Excluded)> keys, string issuer, string audience)
    {
        return await new JsonWebTokenHandler().ValidateTokenAsync(token, new TokenValidationParameters
        {
            ValidIssuer = issuer,
            ValidAudience = audience,
            IssuerSigningKeys = keys.Values.Select(k => k.Key).ToList(),
            ValidAlgorithms = Accepted,
            RequireSignedTokens = true,
            ClockSkew = TimeSpan.FromSeconds(30),
        });
    }

    /// <summary>kube-apiserver's header check: base64url without padding, a JSON object with no field but alg, kid and typ.</summary>
    private static string CheckHeader(string header)
    {
        Assert.DoesNotContain('=', header);
        using var json = JsonDocument.Parse(Base64UrlEncoder.DecodeBytes(header));
        var names = json.RootElement.EnumerateObject().Select(p => p.Name).ToList();
        Assert.True(names.All(n => n is "alg" or "kid" or "typ") && names.Distinct().Count() == names.Count, $"header fields {string.Join(",", names)}: only alg, kid and typ are allowed");
        Assert.Equal("JWT", json.RootElement.GetProperty("typ").GetString());
        var alg = json.RootElement.GetProperty("alg").GetString();
        Assert.Contains(alg, Accepted);
        var kid = json.RootElement.GetProperty("kid").GetString() ?? "";
        Assert.True(kid.Length is > 0 and <= 1024, $"kid of {kid.Length} characters");
        return kid;
    }

    private static SecurityKey ParsePkix(string kid, byte[] der)
    {
        try
        {
            var rsa = RSA.Create();
            rsa.ImportSubjectPublicKeyInfo(der, out _);
            Assert.True(rsa.KeySize >= 2048, $"RSA key {kid} of {rsa.KeySize} bits");
            return new RsaSecurityKey(rsa) { KeyId = kid };
        }
        catch (CryptographicException)
        {
            var ec = ECDsa.Create();
            ec.ImportSubjectPublicKeyInfo(der, out _);
            Assert.True(ec.KeySize is 256 or 384 or 521, $"EC key {kid} of {ec.KeySize} bits");
            return new ECDsaSecurityKey(ec) { KeyId = kid };
        }
    }

    public static IReadOnlyDictionary<string, object> Claims(string issuer, string audience, TimeSpan lifetime, DateTimeOffset now) => new Dictionary<string, object>
    {
        ["iss"] = issuer,
        ["sub"] = "system:serviceaccount:default:workload",
        ["aud"] = new[] { audience },
        ["iat"] = now.ToUnixTimeSeconds(),
        ["nbf"] = now.ToUnixTimeSeconds(),
        ["exp"] = (now + lifetime).ToUnixTimeSeconds(),
        ["kubernetes.io"] = new Dictionary<string, object> { ["namespace"] = "default", ["serviceaccount"] = new Dictionary<string, string> { ["name"] = "workload" } },
    };

    public void Dispose() => _channel.Dispose();
}
