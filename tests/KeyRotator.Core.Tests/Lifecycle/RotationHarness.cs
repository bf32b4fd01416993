using KeyRotator.Core.Keys;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Resources;
using Microsoft.Extensions.Time.Testing;

namespace KeyRotator.Core.Tests.Lifecycle;

/// <summary>
/// Drives the planner through the product's own reconcile step (plan, create the vault key it asks for,
/// plan again, settle), keeping the status. The "vault" is a list of real generated keys.
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

    /// <summary>The kid the signing Secret names (null: as status says).</summary>
    public string? SigningKid { get; set; }

    public RotationPlan? LastPlan { get; private set; }

    /// <summary>The vault clean-up the last step decided (the harness carries it out on <see cref="Vault"/>).</summary>
    public VaultCleanup? LastCleanup { get; private set; }

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

    private RotationInput Input() => new()
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
        SigningKid = SigningKid,
    };

    public RotationPlan Plan() => RotationPlanner.Plan(Input());

    /// <summary>
    /// One reconcile through the product's own step (<see cref="RotationStep"/>): the vault is the list of
    /// real generated keys, publishing always succeeds, and the resulting status is kept.
    /// </summary>
    public RotationPlan Reconcile()
    {
        var input = new StepInput(Status, Policy.RevokedKeyIds, Input(), DeletePrunedKeys: Policy.DeleteKeysOnRemoval);
        var outcome = RotationStep.RunAsync(input, new Effects(this), new HarnessClock(this), CancellationToken.None).GetAwaiter().GetResult();
        var moved = outcome as StepOutcome.Moved ?? throw new InvalidOperationException($"the step ended {outcome}");
        var plan = moved.Plan;
        Status = plan.Status;
        LastCleanup = moved.Cleanup;
        Vault.Apply(moved.Cleanup);

        Events.AddRange(plan.Events);
        LastPlan = plan;
        return plan;
    }

    private sealed class HarnessClock(RotationHarness harness) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => harness.Now;
    }

    private sealed class Effects(RotationHarness harness) : IRotationEffects
    {
        public Task<KeyListing> ListKeysAsync(CancellationToken cancellationToken) => Task.FromResult(KeyListing.Of([.. harness.Vault]));

        public Task<KeyCreation> CreateKeyAsync(long generation, CancellationToken cancellationToken)
        {
            var key = PrivateSigningKey.Generate(harness.Policy.Algorithm, 2048);
            var stored = new StoredKey(key.PublicJwk, generation, harness.Now, $"secret:key-{generation}");
            harness.Vault.Add(stored);
            return Task.FromResult(KeyCreation.Created(stored));
        }

        public Task<PublishResult> PublishAsync(RotationPlan plan, IReadOnlyList<StoredKey> stored, CancellationToken cancellationToken) =>
            Task.FromResult(PublishResult.Done([]));

        public Task<StepFailure?> WithdrawAsync(IReadOnlySet<string> unpublished, CancellationToken cancellationToken) => Task.FromResult<StepFailure?>(null);
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
