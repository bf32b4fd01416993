using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace KeyRotator.Client;

/// <summary>
/// Reports rejected tokens to the operator in batches. Recording never blocks a request: failures go
/// into a bounded queue, and when it is full they are dropped and counted. Each batch is posted with
/// the service's projected service-account token, which the operator checks with TokenReview.
/// </summary>
public sealed partial class FailureReporter : BackgroundService, IFailureSink
{
    private readonly Channel<(FailureReason Reason, string? Kid)> _queue;
    private readonly KeyRotatorValidationOptions _options;
    private readonly HttpClient _http;
    private readonly TimeProvider _time;
    private readonly ClientMetrics? _metrics;
    private readonly ILogger _logger;
    private readonly Dictionary<(FailureReason, string?), long> _carried = [];
    private readonly Lock _carryLock = new();
    private long _dropped;

    public FailureReporter(KeyRotatorValidationOptions options, HttpClient http, TimeProvider? time = null, ClientMetrics? metrics = null, ILogger<FailureReporter>? logger = null)
    {
        _options = options;
        _http = http;
        _time = time ?? TimeProvider.System;
        _metrics = metrics;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _queue = Channel.CreateBounded<(FailureReason, string?)>(new BoundedChannelOptions(options.ReportQueueCapacity)
        {
            FullMode = BoundedChannelFullMode.DropWrite,
            SingleReader = true,
        }, _ => Drop(1));
    }

    /// <summary>The most distinct (reason, kid) entries one report carries (the operator's own limit is 1,000).</summary>
    public const int MaxEntries = 1000;

    /// <summary>Failures dropped: the queue was full, or a batch the operator refused for good (400, 403, …) or could not hold.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Batches the operator accepted.</summary>
    public long Sent { get; private set; }

    public void Record(FailureReason reason, string? kid) => _queue.Writer.TryWrite((reason, kid));

    /// <summary>The JWKS this verifier holds (set by the DI registration to the JwksFileSource in force).</summary>
    public Func<JwksSnapshot?>? HeldJwks { get; set; }

    /// <summary>The kid this service signs with, for services that also sign (e.g. <see cref="KeyRotatorSigner.CurrentKid"/>).</summary>
    public Func<string?>? SigningKid { get; set; }

    /// <summary>
    /// Sends what is queued now, with the heartbeat fields; returns the HTTP status, or null when there
    /// was nothing to send (no failures and no heartbeat due) or no endpoint.
    /// </summary>
    public async Task<int?> FlushAsync(CancellationToken cancellationToken)
    {
        Dictionary<(FailureReason, string?), long> counts;
        lock (_carryLock)
        {
            counts = new Dictionary<(FailureReason, string?), long>(_carried);
            _carried.Clear();
        }

        while (counts.Count < MaxEntries && _queue.Reader.TryRead(out var failure))
            counts[failure] = counts.GetValueOrDefault(failure) + 1;
        if ((counts.Count == 0 && !_options.Heartbeat) || _options.ReportEndpoint is null)
            return null;

        var report = new FailureReport(counts.Select(c => new FailureCount(c.Key.Item1.ToTag(), c.Key.Item2, c.Value)).ToList())
        {
            Instance = _options.Instance,
            JwksHash = HeldJwks?.Invoke()?.ContentHash,
            SigningKid = SigningKid?.Invoke(),
        };
        var uri = new Uri(_options.ReportEndpoint, $"/v1/namespaces/{_options.SetNamespace}/signingkeysets/{_options.SetName}/signaturefailures");
        using var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = JsonContent.Create(report, ClientJson.Default.FailureReport) };
        if (File.Exists(_options.ReportTokenPath))
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(_options.ReportTokenPath, cancellationToken)).Trim());
        try
        {
            using var response = await _http.SendAsync(request, cancellationToken);
            var status = (int)response.StatusCode;
            if (response.IsSuccessStatusCode)
            {
                Sent++;
            }
            else if (status is 429 or 503)
            {
                // Not now (a flood limit, or credentials the operator could not check yet): the next report carries these counts.
                Carry(counts);
                LogDeferred(_logger, status, counts.Count);
            }
            else
            {
                Drop(counts);
                LogRejected(_logger, status, counts.Count);
            }

            return status;
        }
        catch (Exception e) when (e is HttpRequestException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // Unreachable, or no answer within the HttpClient's timeout: kept for the next report.
            Carry(counts);
            LogUnreachable(_logger, e is HttpRequestException ? e.Message : "no answer in time");
            return null;
        }
    }

    private void Carry(Dictionary<(FailureReason, string?), long> counts)
    {
        lock (_carryLock)
        {
            foreach (var (key, count) in counts)
            {
                if (_carried.Count < MaxEntries || _carried.ContainsKey(key))
                    _carried[key] = _carried.GetValueOrDefault(key) + count;
                else
                    Drop(count);
            }
        }
    }

    private void Drop(Dictionary<(FailureReason, string?), long> counts)
    {
        foreach (var count in counts.Values)
            Drop(count);
    }

    private void Drop(long count)
    {
        Interlocked.Add(ref _dropped, count);
        _metrics?.Dropped(count);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_options.ReportInterval, _time, stoppingToken);
                await FlushAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "The operator answered a failure report with HTTP {Status}; its {Entries} entries go with the next report")]
    private static partial void LogDeferred(ILogger logger, int status, int entries);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The operator refused a failure report with HTTP {Status} ({Entries} entries dropped)")]
    private static partial void LogRejected(ILogger logger, int status, int entries);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The operator could not be reached to report failures: {Error}; the entries go with the next report")]
    private static partial void LogUnreachable(ILogger logger, string error);
}
