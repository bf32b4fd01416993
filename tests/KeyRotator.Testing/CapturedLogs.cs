using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace KeyRotator.Testing;

/// <summary>Every log line an operator under test wrote, formatted as it would be printed.</summary>
public sealed class CapturedLogs : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _lines);

    /// <summary>Adds lines an operator process printed (its log file), for the end-of-run leak scan.</summary>
    public void AddLines(IEnumerable<string> lines)
    {
        foreach (var line in lines)
            _lines.Enqueue(line);
    }

    /// <summary>
    /// The last lines at Information or above, for a failed test's output: what the operator was
    /// doing when a wait ran out is usually the whole diagnosis.
    /// </summary>
    public IEnumerable<string> Tail(int count) =>
        _lines.Where(line => !line.Contains(" Debug ", StringComparison.Ordinal) && !line.Contains(" Trace ", StringComparison.Ordinal) && !line.Contains(" Microsoft.AspNetCore.", StringComparison.Ordinal)).TakeLast(count);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {category}: {formatter(state, exception)}{(exception is null ? "" : " " + exception)}");
    }
}
