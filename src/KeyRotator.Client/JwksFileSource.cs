using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace KeyRotator.Client;

/// <summary>
/// The JWKS from a mounted ConfigMap file. The kubelet updates a ConfigMap volume by swapping the
/// directory's "..data" symlink, so the directory is watched (not the file), with a periodic re-read
/// as a safety net. A file that is missing, does not parse, or lists keys of which none is usable keeps
/// the last good key set (a bad write). A key set published empty, <c>{"keys":[]}</c>, is what the
/// operator publishes when every key has been revoked: it is honoured, and every token is rejected.
/// </summary>
public sealed partial class JwksFileSource : IDisposable
{
    private readonly string _path;
    private readonly ILogger _logger;
    private readonly FileSystemWatcher? _watcher;
    private readonly ITimer _poll;
    private readonly Lock _gate = new();
    private string? _lastText;
    private volatile JwksSnapshot _current = JwksSnapshot.Empty;

    public JwksFileSource(string path, TimeProvider? time = null, TimeSpan? pollInterval = null, ILogger? logger = null)
    {
        _path = Path.GetFullPath(path);
        _logger = logger ?? NullLogger.Instance;
        Reload();
        var directory = Path.GetDirectoryName(_path)!;
        if (Directory.Exists(directory))
        {
            _watcher = new FileSystemWatcher(directory) { IncludeSubdirectories = false, EnableRaisingEvents = true };
            _watcher.Changed += (_, _) => Reload();
            _watcher.Created += (_, _) => Reload();
            _watcher.Renamed += (_, _) => Reload();
            _watcher.Deleted += (_, _) => Reload();
        }

        var interval = pollInterval ?? TimeSpan.FromSeconds(10);
        _poll = (time ?? TimeProvider.System).CreateTimer(_ => Reload(), null, interval, interval);
    }

    /// <summary>The key set in force: the last one that parsed.</summary>
    public JwksSnapshot Current => _current;

    /// <summary>Reads that failed (missing file, bad JSON) since start.</summary>
    public int ReloadFailures { get; private set; }

    /// <summary>Raised after a new key set was loaded.</summary>
    public event Action<JwksSnapshot>? Changed;

    /// <summary>Re-reads the file now; returns whether the key set in force changed.</summary>
    public bool Reload()
    {
        lock (_gate)
        {
            string text;
            JwksSnapshot snapshot;
            try
            {
                text = File.ReadAllText(_path);
                if (text == _lastText)
                    return false;
                snapshot = JwksSnapshot.Parse(text);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or System.Text.Json.JsonException)
            {
                ReloadFailures++;
                LogReloadFailed(_logger, _path, e.GetType().Name, _current.Keys.Count);
                return false;
            }

            if (snapshot.Keys.Count == 0 && snapshot.Entries > 0 && _current.Keys.Count > 0)
            {
                // Keys, but none this verifier may use: more likely a bad write than the truth.
                ReloadFailures++;
                LogNoUsableKey(_logger, _path, _current.Keys.Count);
                return false;
            }

            if (snapshot.Entries == 0 && _current.Keys.Count > 0)
                LogRevokedAll(_logger, _path, _current.Keys.Count);

            _lastText = text;
            _current = snapshot;
            LogLoaded(_logger, _path, snapshot.Keys.Count);
        }

        Changed?.Invoke(_current);
        return true;
    }

    public void Dispose()
    {
        _watcher?.Dispose();
        _poll.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "JWKS {Path} could not be read ({Error}); keeping the last good set of {Count} keys")]
    private static partial void LogReloadFailed(ILogger logger, string path, string error, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "JWKS {Path} holds no usable key; keeping the last good set of {Count} keys")]
    private static partial void LogNoUsableKey(ILogger logger, string path, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "JWKS {Path} is published empty (every key revoked): dropping {Count} keys, every token is rejected until a key is published")]
    private static partial void LogRevokedAll(ILogger logger, string path, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "JWKS {Path} loaded: {Count} keys")]
    private static partial void LogLoaded(ILogger logger, string path, int count);
}
