using System.Text.Json;
using k8s;
using k8s.Autorest;
using KeyRotator.Model.Jose;
using Microsoft.Extensions.Logging;

namespace KeyRotator.Operator.Serving;

/// <summary>
/// The public keys of the cluster's service-account issuer (GET /openid/v1/jwks, which the chart's RBAC
/// grants), so that a report's token is checked locally before it may cost a TokenReview. Read again
/// every 10 minutes, and when a token names a kid not seen yet (at most every 30 s, so that junk kids
/// cannot make the operator poll). Null while the keys cannot be read: TokenReview and its budget alone
/// then stand between a flood and the API server, and a warning says so once.
/// </summary>
public sealed partial class ClusterIssuerKeys(IKubernetes kubernetes, TimeProvider time, ILogger<ClusterIssuerKeys> logger) : IDisposable
{
    private static readonly TimeSpan MaxAge = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan MinRefresh = TimeSpan.FromSeconds(30);

    private readonly SemaphoreSlim _refresh = new(1, 1);
    private IReadOnlyDictionary<string, Jwk>? _keys;
    private DateTimeOffset _readAt = DateTimeOffset.MinValue;
    private bool _warned;

    /// <summary>The issuer's keys by kid, fresh enough to check a token naming <paramref name="kid"/>; null when unknown.</summary>
    public async Task<IReadOnlyDictionary<string, Jwk>?> ForAsync(string? kid, CancellationToken cancellationToken)
    {
        var keys = _keys;
        var age = time.GetUtcNow() - _readAt;
        var stale = age > MaxAge || (kid is not null && keys is not null && !keys.ContainsKey(kid) && age > MinRefresh) || (keys is null && age > MinRefresh);
        if (!stale)
            return keys;
        if (!await _refresh.WaitAsync(TimeSpan.Zero, cancellationToken))
            return keys; // another request is reading them; use what there is
        try
        {
            _readAt = time.GetUtcNow();
            var json = await ReadKeySetAsync(cancellationToken);
            var parsed = new Dictionary<string, Jwk>(StringComparer.Ordinal);
            using (var document = JsonDocument.Parse(json))
            {
                foreach (var element in document.RootElement.GetProperty("keys").EnumerateArray())
                {
                    try
                    {
                        var key = Jwk.Parse(element);
                        parsed[key.Kid] = key;
                    }
                    catch (FormatException)
                    {
                        // A key without kid or alg cannot match a token here; TokenReview still can.
                    }
                }
            }

            _keys = parsed;
            _warned = false;
        }
        catch (Exception e) when (e is HttpOperationException or HttpRequestException or JsonException or KeyNotFoundException or InvalidOperationException or TaskCanceledException)
        {
            // Keys read before stay in use: the issuer's keys change rarely, and an outage must not open the gate.
            if (!_warned)
            {
                _warned = true;
                LogUnreadable(logger, e switch
                {
                    HttpOperationException failed => $"HTTP {(int)failed.Response.StatusCode}",
                    HttpRequestException { StatusCode: { } status } => $"HTTP {(int)status}",
                    _ => e.GetType().Name,
                });
            }
        }
        finally
        {
            _refresh.Release();
        }

        return _keys;
    }

    /// <summary>
    /// GET /openid/v1/jwks through the operator's own client (its credentials and handlers). The generated
    /// Openid.GetServiceAccountIssuerOpenIDKeysetAsync expects a JSON string and fails on the JWKS object.
    /// </summary>
    private async Task<string> ReadKeySetAsync(CancellationToken cancellationToken)
    {
        if (kubernetes is not k8s.Kubernetes client)
            return await kubernetes.Openid.GetServiceAccountIssuerOpenIDKeysetAsync(cancellationToken);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"{client.BaseUri.ToString().TrimEnd('/')}/openid/v1/jwks"));
        if (client.Credentials is { } credentials)
            await credentials.ProcessHttpRequestAsync(request, cancellationToken);
        using var response = await client.HttpClient.SendAsync(request, cancellationToken);
        if (!response.IsSuccessStatusCode)
            throw new HttpRequestException($"HTTP {(int)response.StatusCode}", null, response.StatusCode);
        return await response.Content.ReadAsStringAsync(cancellationToken);
    }

    public void Dispose() => _refresh.Dispose();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not read the cluster's service-account issuer keys (GET /openid/v1/jwks: {Error}); report tokens are checked by TokenReview alone, within its budget, until they can be read")]
    private static partial void LogUnreadable(ILogger logger, string error);
}
