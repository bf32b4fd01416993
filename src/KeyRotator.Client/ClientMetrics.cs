using System.Diagnostics.Metrics;

namespace KeyRotator.Client;

/// <summary>System.Diagnostics.Metrics instruments (meter "KeyRotator.Client"), exportable by OpenTelemetry or prometheus-net.</summary>
public sealed class ClientMetrics : IDisposable
{
    public const string MeterName = "KeyRotator.Client";

    private readonly Meter _meter;
    private readonly Counter<long> _validated;
    private readonly Counter<long> _failures;
    private readonly Counter<long> _dropped;

    public ClientMetrics(IMeterFactory? factory = null)
    {
        _meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        _validated = _meter.CreateCounter<long>("keyrotator.client.tokens.validated", description: "Tokens that passed every check");
        _failures = _meter.CreateCounter<long>("keyrotator.client.tokens.rejected", description: "Tokens rejected, by reason and kid");
        _dropped = _meter.CreateCounter<long>("keyrotator.client.reports.dropped", description: "Failures not reported because the report queue was full");
    }

    public void Validated(string kid) => _validated.Add(1, new KeyValuePair<string, object?>("kid", kid));

    public void Rejected(FailureReason reason, string? kid) =>
        _failures.Add(1, new KeyValuePair<string, object?>("reason", reason.ToTag()), new KeyValuePair<string, object?>("kid", kid ?? ""));

    public void Dropped(long count) => _dropped.Add(count);

    public void Dispose() => _meter.Dispose();
}
