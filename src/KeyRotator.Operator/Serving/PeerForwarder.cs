using System.Net;
using System.Net.Http.Headers;
using KeyRotator.Operator.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.Serving;

/// <summary>
/// Passes every report this replica accepted on to the other replicas, so that reports and heartbeats
/// that reach any replica are held by all of them: the leader evaluates them, and a standby that takes
/// over starts with the same spike baseline and propagation state. The caller was authenticated and
/// authorized here; peers authenticate the forwarding replica by its own projected service-account token
/// (audience PeerAudience, reviewed and cached like reporters' tokens, and required to stand for
/// PeerIdentity), so no secret has to be rendered by the chart, and count the report once (only the
/// replica that received it adds it to keyrotator_signature_failures_total).
/// </summary>
public sealed partial class PeerForwarder(IOptions<OperatorOptions> options, TimeProvider time, ILogger<PeerForwarder> logger) : IDisposable
{
    /// <summary>On a forwarded report: the caller the forwarding replica authenticated.</summary>
    public const string CallerHeader = "X-KeyRotator-Caller";

    /// <summary>On a forwarded report: the caller's instance as the forwarding replica settled it (its token's pod, else the report's).</summary>
    public const string InstanceHeader = "X-KeyRotator-Caller-Instance";

    private readonly ReportOptions _options = options.Value.Reports;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(2) };
    private (DateTimeOffset At, IReadOnlyList<Uri> Peers) _resolved = (DateTimeOffset.MinValue, []);

    private (DateTimeOffset ReadAt, string Token) _token = (DateTimeOffset.MinValue, "");

    public bool Enabled => _options.PeerTokenPath is { Length: > 0 } && _options.PeerIdentity is { Length: > 0 };

    /// <summary>Whether an authenticated user is another replica of this operator.</summary>
    public bool IsPeer(string username) => Enabled && username == _options.PeerIdentity;

    /// <summary>This replica's peer token, read again every minute (the kubelet rotates it).</summary>
    private async Task<string?> TokenAsync()
    {
        if (time.GetUtcNow() - _token.ReadAt < TimeSpan.FromMinutes(1) && _token.Token.Length > 0)
            return _token.Token;
        try
        {
            _token = (time.GetUtcNow(), (await File.ReadAllTextAsync(_options.PeerTokenPath!)).Trim());
            return _token.Token;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogNoToken(logger, _options.PeerTokenPath!, e.GetType().Name);
            return null;
        }
    }

    /// <summary>Sends the report to every other replica, in the background; a peer that does not answer misses it.</summary>
    public void Forward(string path, string caller, string? instance, byte[] body)
    {
        if (!Enabled)
            return;
        _ = Task.Run(async () =>
        {
            if (await TokenAsync() is not { Length: > 0 } token)
                return;
            foreach (var peer in await PeersAsync())
            {
                try
                {
                    using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(peer, path)) { Content = new ByteArrayContent(body) };
                    request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                    request.Headers.Add(CallerHeader, caller);
                    if (instance is { Length: > 0 })
                        request.Headers.Add(InstanceHeader, instance);
                    using var response = await _http.SendAsync(request);
                    if (!response.IsSuccessStatusCode)
                        LogRefused(logger, peer.ToString(), (int)response.StatusCode);
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    LogUnreachable(logger, peer.ToString(), e.GetType().Name);
                }
            }
        });
    }

    private async Task<IReadOnlyList<Uri>> PeersAsync()
    {
        var peers = _options.Peers.Select(p => new Uri(p)).ToList();
        if (_options.PeerService is not { Length: > 0 } service)
            return peers;
        if (time.GetUtcNow() - _resolved.At < TimeSpan.FromSeconds(10))
            return [.. peers, .. _resolved.Peers];

        var (host, port) = service.Split(':') is [var h, var p] ? (h, p) : (service, "8080");
        var self = Environment.GetEnvironmentVariable("POD_IP");
        try
        {
            var addresses = await Dns.GetHostAddressesAsync(host);
            var resolved = addresses.Where(a => a.ToString() != self)
                .Select(a => new Uri($"http://{(a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{a}]" : a.ToString())}:{port}"))
                .ToList();
            _resolved = (time.GetUtcNow(), resolved);
        }
        catch (System.Net.Sockets.SocketException e)
        {
            LogUnresolved(logger, host, e.Message);
        }

        return [.. peers, .. _resolved.Peers];
    }

    public void Dispose() => _http.Dispose();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replica {Peer} refused a forwarded report with HTTP {Status}")]
    private static partial void LogRefused(ILogger logger, string peer, int status);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replica {Peer} could not be reached to forward a report ({Error})")]
    private static partial void LogUnreachable(ILogger logger, string peer, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot read this replica's peer token {Path} ({Error}); reports are not forwarded")]
    private static partial void LogNoToken(ILogger logger, string path, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The peer Service {Host} does not resolve: {Error}")]
    private static partial void LogUnresolved(ILogger logger, string host, string error);
}
