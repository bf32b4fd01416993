using BenchmarkDotNet.Attributes;
using KeyRotator.Core.Keys;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Resources;

namespace KeyRotator.Benchmarks;

/// <summary>One planning pass of a set: its first key, and a set in steady state with an active and a retiring key.</summary>
[MemoryDiagnoser]
public class PlannerBenchmarks
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly RotationPolicy _policy = new()
    {
        Algorithm = JwsAlgorithm.ES256,
        Interval = TimeSpan.FromHours(24),
        PrePublish = TimeSpan.FromMinutes(15),
        Overlap = TimeSpan.FromHours(2),
        MaxTokenLifetime = TimeSpan.FromMinutes(15),
        ClockSkew = TimeSpan.FromMinutes(1),
    };

    private List<StoredKey> _vault = [];
    private SigningKeySetStatus? _steady;
    private DateTimeOffset _steadyNow;

    [GlobalSetup]
    public void Setup()
    {
        _vault = [.. Enumerable.Range(1, 2).Select(g => new StoredKey(PrivateSigningKey.Generate(JwsAlgorithm.ES256, 0).PublicJwk, g, Start, $"ref-{g}"))];

        // Walk a set through its first key and one rotation, so that the steady state holds an active and a retiring key.
        var status = (SigningKeySetStatus?)null;
        var now = Start;
        for (var step = 0; step < 200 && !(status?.Keys?.Any(k => k.State == KeyState.Retiring) ?? false); step++)
        {
            var plan = RotationPlanner.Plan(new RotationInput { Policy = _policy, Status = status, StoredKeys = _vault, Now = now, RotateNowRequest = step > 20 ? "bench" : null });
            status = plan.Status;
            now += TimeSpan.FromMinutes(1);
        }

        _steady = status;
        _steadyNow = now;
    }

    [Benchmark]
    public RotationPlan FirstKey() => RotationPlanner.Plan(new RotationInput { Policy = _policy, Status = null, StoredKeys = _vault[..1], Now = Start });

    [Benchmark]
    public RotationPlan SteadyState() => RotationPlanner.Plan(new RotationInput { Policy = _policy, Status = _steady, StoredKeys = _vault, Now = _steadyNow, RotateNowRequest = "bench" });
}
