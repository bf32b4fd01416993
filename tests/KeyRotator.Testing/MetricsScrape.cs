using System.Net.Http.Headers;

namespace KeyRotator.Testing;

/// <summary>
/// Reads an operator's /metrics as Prometheus does: with the token of a service account bound to the
/// ClusterRole keyrotator-metrics-reader (one per test run, minted again before it expires).
/// </summary>
public static class MetricsScrape
{
    private static readonly SemaphoreSlim Minting = new(1, 1);
    private static (KubernetesEnvironment Env, string Token, DateTimeOffset Minted)? _reader;

    /// <summary>The body of GET /metrics on <paramref name="http"/>'s operator; throws, as GetStringAsync does, when it is not 200.</summary>
    public static async Task<string> GetMetricsAsync(this HttpClient http, KubernetesEnvironment env, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/metrics", UriKind.Relative));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await ReaderTokenAsync(env, cancellationToken));
        using var response = await http.SendAsync(request, cancellationToken);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync(cancellationToken);
    }

    /// <summary>A token of a service account allowed to get /metrics (what the chart's ServiceMonitor scrapes with).</summary>
    public static async Task<string> ReaderTokenAsync(KubernetesEnvironment env, CancellationToken cancellationToken = default)
    {
        await Minting.WaitAsync(cancellationToken);
        try
        {
            if (_reader is { } reader && reader.Env == env && DateTimeOffset.UtcNow - reader.Minted < TimeSpan.FromMinutes(30))
                return reader.Token;
            var ns = await env.CreateNamespaceAsync("monitoring", cancellationToken);
            var token = await ServiceAccounts.ApiTokenAsync(env, ns, "prometheus", grantMetricsReader: true);
            _reader = (env, token, DateTimeOffset.UtcNow);
            return token;
        }
        finally
        {
            Minting.Release();
        }
    }
}
