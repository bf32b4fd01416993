using KeyRotator.Core.Keys;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Resources;
using Microsoft.Extensions.Time.Testing;

namespace KeyRotator.Core.Tests.Lifecycle;

/// <summary>
/// Drives the planner the way the reconciler does: plan, create the vault key it asks for, plan again,
/// keep the status. The "vault" is a list of real generated keys.
/// </summary>
internal sealed class RotationHarness
{
    public static readonly DateTimeOffset Start = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    public RotationHarness(RotationPolicy? policy = null)
    {
        Policy = policy ?? DefaultPolicy();
    }

    public RotationPolicy Policy { get; set; }

    public FakeTimeProvider Clock { get; } = new(Start);

    public SigningKeySetStatus? Status { get; set; }

    public List<StoredKey> Vault { get; } = [];

    public List<PlanEvent> Events { get; } = [];

    public string? RotateNow { get; set; }

    /// <summary>What verifiers and signers report (the tracker's view), handed to every plan.</summary>
    public PropagationStatus? Propagation { get; set; }

    /// <summary>The unknown_kid spike on the active key, as the reconciler hands it over.</summary>
    public string? Spike { get; set; }

    public string? NoRollbackKid { get; set; }

    public RotationPlan? LastPlan { get; private set; }

    public DateTimeOffset Now => _jumpedTo ?? Clock.GetUtcNow();

    private DateTimeOffset? _jumpedTo;

    /// <summary>A wall clock set backwards (NTP step, VM restore): FakeTimeProvider only moves forward.</summary>
    public void JumpClockBackTo(DateTimeOffset time) => _jumpedTo = time;

    public static RotationPolicy DefaultPolicy() => new()
    {
        Algorithm = JwsAlgorithm.ES256,
        Interval = TimeSpan.FromHours(24),
        PrePublish = TimeSpan.FromMinutes(15),
        Overlap = TimeSpan.FromHours(2),
        MaxTokenLifetime = TimeSpan.FromMinutes(15),
        ClockSkew = TimeSpan.FromMinutes(1),
    };

    public RotationPlan Plan() => RotationPlanner.Plan(new RotationInput
    {
        Policy = Policy,
        Status = Status,
        StoredKeys = Vault,
        RotateNowRequest = RotateNow,
        Generation = 1,
        Now = Now,
        Propagation = Propagation,
        UnknownKidSpikeOnActiveKey = Spike,
        NoRollbackKid = NoRollbackKid,
    });

    /// <summary>One reconcile: create the key the plan asks for, then keep the resulting status.</summary>
    public RotationPlan Reconcile()
    {
        var plan = Plan();
        if (plan.CreateGeneration is { } generation)
        {
            var key = PrivateSigningKey.Generate(Policy.Algorithm, 2048);
            Vault.Add(new StoredKey(key.PublicJwk, generation, Now, $"secret:key-{generation}"));
            plan = Plan();
        }

        Status = plan.Status;
        Events.AddRange(plan.Events);
        LastPlan = plan;
        return plan;
    }

    /// <summary>Advances the clock to the plan's next wake time and reconciles, as the scheduler would.</summary>
    public RotationPlan WakeUp()
    {
        var wake = LastPlan?.NextWakeTime ?? throw new InvalidOperationException("nothing scheduled");
        if (wake > Now)
            Clock.SetUtcNow(wake);
        return Reconcile();
    }

    public KeyStatus Key(string kid) => Status!.Keys!.Single(k => k.Kid == kid);

    public IEnumerable<string> KidsIn(string state) => Status!.Keys!.Where(k => k.State == state).Select(k => k.Kid);
}
