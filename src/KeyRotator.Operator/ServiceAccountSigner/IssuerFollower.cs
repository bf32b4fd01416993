using k8s.Autorest;
using KeyRotator.Operator.Vault;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KeyRotator.Operator.ServiceAccountSigner;

/// <summary>
/// Follows the issuer set: reads it again every <see cref="SignerOptions.Poll"/> and keeps the last
/// reading it got. When the API server does not answer, the signer goes on with what it last saw (the API
/// server may be down precisely because it is restarting, and it needs the signer to start). With a state
/// file, every reading that changed is written there, and a signer that starts serves from it until the
/// API server answers.
/// </summary>
public sealed partial class IssuerFollower(IssuerSetReader reader, SignerOptions options, TimeProvider time, ILogger<IssuerFollower> logger) : BackgroundService
{
    private volatile IssuerSnapshot? _current;
    private IssuerState? _written;

    /// <summary>The last reading, or null before the first one (from the API server or the state file).</summary>
    public IssuerSnapshot? Current => _current;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.StateFile is { } path && StateFile.Read(path, options.Namespace, options.Name) is { } state)
        {
            _current = reader.Build(options.Namespace, options.Name, state, null);
            _written = state;
            LogFromStateFile(logger, options.Namespace, options.Name, path, state.ReadAt, state.SigningKid ?? "nothing");
        }

        return base.StartAsync(cancellationToken);
    }

    /// <summary>Reads once now; false when the API server could not be read (the last reading stays).</summary>
    public async Task<bool> RefreshAsync(CancellationToken cancellationToken)
    {
        try
        {
            var previous = _current;
            var state = await reader.ReadAsync(options.Namespace, options.Name, cancellationToken);
            var next = reader.Build(options.Namespace, options.Name, state, previous);
            if (previous?.ToString() != next.ToString() || previous.Serving.Refusal != next.Serving.Refusal)
                LogReading(logger, options.Namespace, options.Name, next.Serving.SigningKey?.Kid ?? "nothing", next.Keys.Count, next.Serving.Refusal ?? next.Serving.SignRefusal ?? next.SignProblem ?? "none");
            _current = next;
            Keep(state);
            return true;
        }
        // A JWKS or key the signer cannot parse is treated as an unreadable API server: the last good reading stays.
        catch (Exception e) when (e is HttpOperationException or HttpRequestException or TaskCanceledException or KeyStoreException
            or System.Text.Json.JsonException or FormatException or System.Security.Cryptography.CryptographicException && !cancellationToken.IsCancellationRequested)
        {
            LogUnreadable(logger, options.Namespace, options.Name, e.GetType().Name, _current?.ReadAt);
            return false;
        }
    }

    /// <summary>Writes a reading that differs from the one on disk (other than its time), so that a steady set costs no disk writes.</summary>
    private void Keep(IssuerState? state)
    {
        if (options.StateFile is not { } path || state is null || (_written is { } written && Same(written, state)))
            return;
        try
        {
            StateFile.Write(path, state);
            _written = state;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogNotWritten(logger, path, e.GetType().Name);
        }
    }

    private static bool Same(IssuerState a, IssuerState b) =>
        a with { ReadAt = default, Spec = b.Spec } == b with { ReadAt = default }
        && System.Text.Json.JsonSerializer.Serialize(a.Spec, IssuerStateJson.SpecInfo) == System.Text.Json.JsonSerializer.Serialize(b.Spec, IssuerStateJson.SpecInfo);

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

    [LoggerMessage(Level = LogLevel.Information, Message = "Issuer SigningKeySet {Namespace}/{Name}: serving the state file {Path} (read {ReadAt}, signing with {Kid}) until the API server answers")]
    private static partial void LogFromStateFile(ILogger logger, string @namespace, string name, string path, DateTimeOffset readAt, string kid);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The state file {Path} could not be written ({Error}); a restart without the API server would have nothing to serve")]
    private static partial void LogNotWritten(ILogger logger, string path, string error);
}
