using k8s.Autorest;
using KeyRotator.Operator.Vault;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KeyRotator.Operator.ServiceAccountSigner;

/// <summary>
/// Follows the issuer set: reads it again every <see cref="SignerOptions.Poll"/> and keeps the last
/// reading it got. When the API server does not answer, the signer goes on with what it last saw (the API
/// server may be down precisely because it is restarting, and it needs the signer to start).
/// </summary>
public sealed partial class IssuerFollower(IssuerSetReader reader, SignerOptions options, TimeProvider time, ILogger<IssuerFollower> logger) : BackgroundService
{
    private volatile IssuerSnapshot? _current;

    /// <summary>The last reading, or null before the first one succeeded.</summary>
    public IssuerSnapshot? Current => _current;

    /// <summary>Reads once now; false when the API server could not be read (the last reading stays).</summary>
    public async Task<bool> RefreshAsync(CancellationToken cancellationToken)
    {
        try
        {
            var previous = _current;
            var next = await reader.ReadAsync(options.Namespace, options.Name, previous, cancellationToken);
            if (previous?.ToString() != next.ToString() || previous.Serving.Refusal != next.Serving.Refusal)
                LogReading(logger, options.Namespace, options.Name, next.Serving.SigningKey?.Kid ?? "nothing", next.Keys.Count, next.Serving.Refusal ?? next.Serving.SignRefusal ?? next.SignProblem ?? "none");
            _current = next;
            return true;
        }
        catch (Exception e) when (e is HttpOperationException or HttpRequestException or TaskCanceledException or KeyStoreException && !cancellationToken.IsCancellationRequested)
        {
            LogUnreadable(logger, options.Namespace, options.Name, e.GetType().Name, _current?.ReadAt);
            return false;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            await RefreshAsync(stoppingToken);
            try
            {
                await Task.Delay(options.Poll, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Issuer SigningKeySet {Namespace}/{Name}: signing with {Kid}, {Keys} keys served; refusal: {Refusal}")]
    private static partial void LogReading(ILogger logger, string @namespace, string name, string kid, int keys, string refusal);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Issuer SigningKeySet {Namespace}/{Name} could not be read ({Error}); serving the reading of {ReadAt}")]
    private static partial void LogUnreadable(ILogger logger, string @namespace, string name, string error, DateTimeOffset? readAt);
}
