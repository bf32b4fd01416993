using System.Globalization;
using System.Text.RegularExpressions;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Observability;

public sealed partial class MetricsTests(KubernetesEnvironment env)
{
    [Fact]
    public async Task Metrics_describe_each_set_after_a_rotation_and_its_series_vanish_when_it_is_deleted()
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = await env.CreateNamespaceAsync("metrics", ct);
        var scenario = new OperatorScenario(env, ns);
        await using var op = await OperatorInstance.StartAsync(env, [ns]);
        using var http = new HttpClient { BaseAddress = op.BaseAddress };
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("other", ns).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        var first = await scenario.WaitForActiveKeyAsync("auth");
        await scenario.WaitForActiveKeyAsync("other");

        var rotated = first;
        await scenario.EditAsync(rotated.Metadata.Name, s => s.Metadata.Annotations = new Dictionary<string, string> { [Labels.RotateNowAnnotation] = "1" }, ct);
        var after = await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.ActiveKeyId != first.Status!.ActiveKeyId && s.Status?.ActiveKeyId is not null, TimeSpan.FromSeconds(15), "a manual rotation");

        var text = await Eventually.HoldsAsync(() => http.GetMetricsAsync(env, ct),
            t => Value(t, "keyrotator_keys", ns, "auth", "state=\"Retiring\"") == 1, TimeSpan.FromSeconds(10), "metrics after the rotation");
        var set = $"namespace=\"{ns}\",name=\"auth\"";
        Assert.Equal(1, Value(text, "keyrotator_signingkeyset_ready", ns, "auth"));
        Assert.Equal(1, Value(text, "keyrotator_keys", ns, "auth", "state=\"Active\""));
        Assert.Equal(0, Value(text, "keyrotator_keys", ns, "auth", "state=\"Pending\""));
        Assert.Equal(1, Value(text, "keyrotator_rotations_total", ns, "auth", "trigger=\"initial\""));
        Assert.Equal(1, Value(text, "keyrotator_rotations_total", ns, "auth", "trigger=\"manual\""));
        Assert.Equal(after.Status!.Keys!.Single(k => k.State == "Active").ActivatedAt!.Value.ToUnixTimeMilliseconds() / 1000.0,
            Value(text, "keyrotator_active_key_activated_timestamp_seconds", ns, "auth")!.Value, 2);
        Assert.Equal(after.Status.NextRotationTime!.Value.ToUnixTimeMilliseconds() / 1000.0, Value(text, "keyrotator_next_rotation_timestamp_seconds", ns, "auth")!.Value, 2);
        Assert.NotNull(Value(text, "keyrotator_active_key_created_timestamp_seconds", ns, "auth"));
        Assert.Contains("keyrotator_reconcile_duration_seconds_count{result=\"success\"}", text, StringComparison.Ordinal);
        Assert.Contains("keyrotator_vault_request_duration_seconds_count{provider=\"Kubernetes\",operation=\"create\",outcome=\"success\"}", text, StringComparison.Ordinal);
        Assert.Matches(@"keyrotator_workqueue_depth \d", text);
        Assert.Contains("keyrotator_leader 1", text, StringComparison.Ordinal);
        Assert.Contains("keyrotator_watch_healthy 1", text, StringComparison.Ordinal);
        var clock = double.Parse(ClockPattern().Match(text).Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.InRange(clock, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 60);

        await scenario.Sets.DeleteAsync(ns, "auth", ct);
        var gone = await Eventually.HoldsAsync(() => http.GetMetricsAsync(env, ct),
            t => !t.Contains(set, StringComparison.Ordinal), TimeSpan.FromSeconds(15), "the deleted set's series gone");
        Assert.Equal(1, Value(gone, "keyrotator_signingkeyset_ready", ns, "other"));
    }

    private static double? Value(string text, string metric, string ns, string name, string? extra = null)
    {
        var labels = $"namespace=\"{ns}\",name=\"{name}\"" + (extra is null ? "" : "," + extra);
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith($"{metric}{{{labels}}} ", StringComparison.Ordinal));
        return line is null ? null : double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"keyrotator_clock_time_seconds ([0-9.e+E]+)")]
    private static partial Regex ClockPattern();
}
