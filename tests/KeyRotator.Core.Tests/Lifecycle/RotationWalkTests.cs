// Longer than 300 lines: the walk's steps and the invariants checked after each are read together.
using KeyRotator.Core.Keys;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Resources;

namespace KeyRotator.Core.Tests.Lifecycle;

/// <summary>
/// Seeded random walks through the product's own decision, <see cref="RotationStep"/> (the code the
/// reconciler runs: hold or plan, create, publish, settle, and withdraw whenever something stops it),
/// over an in-memory world of a vault, JWKS copies and a signing Secret that fail when the walk says so.
/// Steps: wake-ups, time passing, the wall clock stepped back, rotate-now, revocations, policy edits,
/// specs turning invalid, vault outages and failed or slow key creation, copies added, removed and
/// refusing writes. After every step the invariants are checked on what verifiers and signers would see,
/// measured on a monotonic clock (a wall clock stepped back must never make anything happen early).
/// A failure names the seed and the steps that led to it.
/// </summary>
public sealed class RotationWalkTests
{
    public static TheoryData<int> Seeds()
    {
        var seeds = new TheoryData<int>();
        for (var seed = 1; seed <= 200; seed++)
            seeds.Add(seed);
        return seeds;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task Every_step_of_a_random_walk_keeps_the_invariants(int seed) => await Walk.RunAsync(seed);

    [Fact]
    public async Task The_walks_rotate_revoke_and_hold_often_enough_to_mean_something()
    {
        var (activations, revocations, holds, cleanedUp) = (0, 0, 0, 0);
        for (var seed = 1; seed <= 20; seed++)
        {
            var walk = await Walk.RunAsync(seed);
            (activations, revocations, holds, cleanedUp) = (activations + walk.Activations, revocations + walk.RevokedWhilePublished, holds + walk.Holds, cleanedUp + walk.CleanedUp);
        }

        var counts = $"{activations} activations, {revocations} revocations of published keys, {holds} held steps, {cleanedUp} vault clean-ups in 20 walks of 100 steps";
        TestContext.Current.TestOutputHelper?.WriteLine(counts);
        Assert.True(activations >= 100 && revocations >= 10 && holds >= 100 && cleanedUp >= 20, counts);
    }

    /// <summary>The wall clock the decision reads; the walk sets it, backwards too.</summary>
    private sealed class WalkClock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    /// <summary>One JWKS copy as verifiers in its namespace see it.</summary>
    private sealed class Copy(TimeSpan createdAt)
    {
        public TimeSpan CreatedAt { get; } = createdAt;

        public List<string> Kids { get; set; } = [];

        /// <summary>When (monotonic) each kid arrived in this copy, for kids that arrived in a version after the first.</summary>
        public Dictionary<string, TimeSpan> ArrivedAt { get; } = new(StringComparer.Ordinal);

        public int Versions { get; set; }

        /// <summary>For how many more steps the API server refuses writes to this copy.</summary>
        public int Refusing { get; set; }
    }

    private sealed class Walk : IRotationEffects
    {
        private const string Own = "own";
        private static readonly DateTimeOffset Start = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
        private static readonly TimeSpan[] PrePublishes = [TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(15), TimeSpan.FromMinutes(30)];
        private static readonly TimeSpan[] Overlaps = [TimeSpan.FromMinutes(30), TimeSpan.FromHours(2)];
        private static readonly TimeSpan[] Intervals = [TimeSpan.FromHours(1), TimeSpan.FromHours(6), TimeSpan.FromHours(24)];
        private static readonly TimeSpan[] Lifetimes = [TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(15)];

        private readonly Random _random;
        private readonly WalkClock _wall = new(Start);
        private readonly List<string> _log = [];
        private readonly HashSet<string> _revoked = new(StringComparer.Ordinal);
        private readonly List<StoredKey> _vault = [];
        private readonly Dictionary<string, Copy> _copies = new(StringComparer.Ordinal);
        private readonly List<string> _targets = [];
        private readonly Dictionary<string, (TimeSpan At, TimeSpan Overlap, TimeSpan TokenLifetime)> _stoppedSigning = new(StringComparer.Ordinal);
        private readonly HashSet<string> _everSigned = new(StringComparer.Ordinal);
        private TimeSpan _real;
        private RotationPolicy _policy;
        private SigningKeySetStatus? _status;
        private DateTimeOffset? _wake;
        private string? _signing;
        private string? _rotateNow;
        private int _rotateNows;
        private int _copyNames;
        // Adverse conditions last a few steps each, so that the walk also spends most of its time moving forward.
        private int _specInvalid;
        private int _vaultDown;
        private int _createFails;
        private int _creationsNotReady;

        public Walk(int seed)
        {
            _random = new Random(seed);
            _log.Add($"seed {seed}");
            _policy = RotationHarness.DefaultPolicy();
        }

        public int Activations { get; private set; }

        public int CleanedUp { get; private set; }

        /// <summary>One walk of 100 steps from the first reconcile; it throws at the first broken invariant.</summary>
        public static async Task<Walk> RunAsync(int seed)
        {
            var walk = new Walk(seed);
            await walk.ReconcileAsync();
            for (var step = 0; step < 100; step++)
                await walk.StepAsync();
            return walk;
        }

        /// <summary>Revocations of a key that was published at the time.</summary>
        public int RevokedWhilePublished { get; private set; }

        /// <summary>Steps that ended held (invalid spec, vault down, a refused write).</summary>
        public int Holds { get; private set; }

        public async Task StepAsync()
        {
            switch (_random.Next(20))
            {
                case < 5:
                    if (_wake is { } at && at > _wall.Now)
                        Pass(at - _wall.Now);
                    _log.Add($"wake at {_wall.Now:dd HH:mm:ss}");
                    break;
                case < 7:
                    Pass(TimeSpan.FromSeconds(_random.Next(1, 3 * 3600)));
                    _log.Add($"time passes to {_wall.Now:dd HH:mm:ss}");
                    break;
                case 7:
                    Pass(TimeSpan.FromSeconds(_random.Next(1, 120)));
                    _log.Add($"time passes to {_wall.Now:dd HH:mm:ss}");
                    break;
                case 8:
                    _wall.Now -= TimeSpan.FromSeconds(_random.Next(1, 2 * 3600));
                    _log.Add($"wall clock stepped back to {_wall.Now:dd HH:mm:ss}");
                    break;
                case 9:
                    _rotateNow = $"r{++_rotateNows}";
                    _log.Add("rotate-now");
                    break;
                case 10:
                    var known = _status?.Keys?.Where(k => k.State != KeyState.Revoked).Select(k => k.Kid).ToList() ?? [];
                    if (known.Count > 0)
                    {
                        var kid = known[_random.Next(known.Count)];
                        _revoked.Add(kid);
                        RevokedWhilePublished += _copies.Values.Any(c => c.Kids.Contains(kid)) ? 1 : 0;
                        _log.Add($"revoke {Short(kid)}");
                    }

                    break;
                case 11:
                    _policy = _policy with
                    {
                        PrePublish = PrePublishes[_random.Next(PrePublishes.Length)],
                        Overlap = Overlaps[_random.Next(Overlaps.Length)],
                        Interval = Intervals[_random.Next(Intervals.Length)],
                        MaxTokenLifetime = Lifetimes[_random.Next(Lifetimes.Length)],
                    };
                    _log.Add($"policy: prePublish {_policy.PrePublish}, overlap {_policy.Overlap}, interval {_policy.Interval}, tokens {_policy.MaxTokenLifetime}");
                    break;
                case 12:
                    _specInvalid = _random.Next(1, 6);
                    _log.Add($"spec invalid for {_specInvalid} steps");
                    break;
                case 13:
                    _vaultDown = _random.Next(1, 6);
                    _log.Add($"vault down for {_vaultDown} steps");
                    break;
                case 14:
                    _createFails = _random.Next(1, 6);
                    _log.Add($"key creation fails for {_createFails} steps");
                    break;
                case 15:
                    _creationsNotReady = _random.Next(1, 4);
                    _log.Add($"the next key takes {_creationsNotReady} reconciles to make");
                    break;
                case 16:
                    var target = $"copy{++_copyNames}";
                    _targets.Add(target);
                    _log.Add($"target {target} added");
                    break;
                case 17:
                    if (_targets.Count > 0)
                    {
                        var removed = _targets[_random.Next(_targets.Count)];
                        _targets.Remove(removed);
                        _log.Add($"target {removed} removed");
                    }

                    break;
                default:
                    var copies = _copies.Keys.ToList();
                    if (copies.Count > 0)
                    {
                        var name = copies[_random.Next(copies.Count)];
                        _copies[name].Refusing = _random.Next(1, 6);
                        _log.Add($"copy {name} refuses writes for {_copies[name].Refusing} steps");
                    }

                    break;
            }

            await ReconcileAsync();
            (_specInvalid, _vaultDown, _createFails) = (Math.Max(0, _specInvalid - 1), Math.Max(0, _vaultDown - 1), Math.Max(0, _createFails - 1));
            foreach (var copy in _copies.Values)
                copy.Refusing = Math.Max(0, copy.Refusing - 1);
        }

        public async Task ReconcileAsync()
        {
            var policy = _policy with { RevokedKeyIds = new HashSet<string>(_revoked, StringComparer.Ordinal) };
            var input = new StepInput(_status, new HashSet<string>(_revoked, StringComparer.Ordinal),
                _specInvalid > 0 ? null : new RotationInput { Policy = policy, Status = _status, RotateNowRequest = _rotateNow, Generation = 1, Now = DateTimeOffset.MinValue },
                _specInvalid > 0 ? new StepFailure(StepFailureKind.Held, "InvalidSpec", "the walk made the spec invalid") : null,
                DeletePrunedKeys: true);
            var outcome = await RotationStep.RunAsync(input, this, _wall, CancellationToken.None);
            switch (outcome)
            {
                case StepOutcome.Held held:
                    _status = held.Withdrawal.Status;
                    _wake = held.Withdrawal.NextRetirement;
                    Holds++;
                    _log.Add($"  held: {held.Failure.Reason}");
                    break;
                case StepOutcome.NotWithdrawn notWithdrawn:
                    // Status stays as it was: nothing is called Revoked or Retired while a copy still holds it.
                    Holds++;
                    _log.Add($"  not withdrawn: {notWithdrawn.Failure.Message}");
                    break;
                case StepOutcome.Moved moved:
                    _status = moved.Plan.Status;
                    _wake = moved.KeyPending ? moved.Plan.NextTimedWakeTime : moved.Plan.NextWakeTime;
                    _log.Add($"  moved: active {Short(_status.ActiveKeyId)}, next {Short(_status.NextKeyId)}, published {string.Join(",", moved.Plan.PublishedKeyIds.Select(Short))}{(moved.VaultError is null ? "" : ", vault error")}");
                    CleanUp(moved.Cleanup);
                    break;
                default:
                    _log.Add($"  {outcome.GetType().Name}");
                    break;
            }

            Check(outcome);
        }

        /// <summary>Carries out the step's vault clean-up; it must never touch a key that is in use.</summary>
        private void CleanUp(VaultCleanup cleanup)
        {
            foreach (var kid in cleanup.Disable.Concat(cleanup.Delete))
            {
                var state = _status?.Keys?.FirstOrDefault(k => k.Kid == kid)?.State;
                Assert.True(kid != _signing && state is not (KeyState.Active or KeyState.Pending or KeyState.Retiring),
                    Explain($"the vault clean-up touches {Short(kid)}, which is {state ?? "not in status"}{(kid == _signing ? " and signs" : "")}"));
                CleanedUp++;
            }

            _vault.Apply(cleanup);
        }

        private void Pass(TimeSpan span)
        {
            _wall.Now += span;
            _real += span;
        }

        public Task<KeyListing> ListKeysAsync(CancellationToken cancellationToken) =>
            Task.FromResult(_vaultDown > 0
                ? KeyListing.Failed(new StepFailure(StepFailureKind.Degraded, "VaultUnavailable", "the vault does not answer"))
                : KeyListing.Of([.. _vault]));

        public Task<KeyCreation> CreateKeyAsync(long generation, CancellationToken cancellationToken)
        {
            if (_createFails > 0)
                return Task.FromResult(KeyCreation.Failed(new StepFailure(StepFailureKind.Degraded, "VaultError", "the vault refused to make a key")));
            if (_creationsNotReady > 0)
            {
                _creationsNotReady--;
                return Task.FromResult(KeyCreation.NotReady);
            }

            var existing = _vault.FirstOrDefault(k => k.Generation == generation);
            if (existing is not null)
                return Task.FromResult(KeyCreation.Created(existing));
            var key = PrivateSigningKey.Generate(JwsAlgorithm.ES256, 2048);
            var stored = new StoredKey(key.PublicJwk, generation, _wall.Now, $"walk:key-{generation}");
            _vault.Add(stored);
            return Task.FromResult(KeyCreation.Created(stored));
        }

        public Task<PublishResult> PublishAsync(RotationPlan plan, IReadOnlyList<StoredKey> stored, CancellationToken cancellationToken)
        {
            // As the operator publishes: never a JWKS without a key it should hold; every copy (its own
            // namespace first), stopping at a refused write; copies no longer targeted deleted; then the
            // signing Secret.
            if (plan.PublishedKeyIds.Any(kid => stored.All(k => k.Kid != kid)))
                return Task.FromResult(PublishResult.Failed(new StepFailure(StepFailureKind.Degraded, "KeyMissing", "the vault no longer holds a key that should be published")));
            foreach (var name in new[] { Own }.Concat(_targets))
            {
                if (!_copies.TryGetValue(name, out var copy))
                    _copies[name] = copy = new Copy(_real);
                if (copy.Refusing > 0)
                    return Task.FromResult(PublishResult.Failed(new StepFailure(StepFailureKind.Degraded, "PublishFailed", $"copy {name} refused the write")));
                Write(copy, plan.PublishedKeyIds);
            }

            foreach (var gone in _copies.Keys.Where(n => n != Own && !_targets.Contains(n)).ToList())
                _copies.Remove(gone);
            Sign(plan.ActiveKeyId, forced: _signing is null || _revoked.Contains(_signing));
            return Task.FromResult(PublishResult.Done([]));
        }

        public Task<StepFailure?> WithdrawAsync(IReadOnlySet<string> unpublished, CancellationToken cancellationToken)
        {
            // As the operator withdraws: copies the spec no longer names are deleted, the rest lose the kids
            // (a copy that refuses writes keeps them and is the answer; the others do not wait for it); the
            // signing Secret is emptied if it holds one.
            foreach (var gone in _copies.Keys.Where(n => n != Own && !_targets.Contains(n)).ToList())
                _copies.Remove(gone);
            StepFailure? failure = null;
            foreach (var (name, copy) in _copies.Where(c => c.Value.Kids.Any(unpublished.Contains)))
            {
                if (copy.Refusing > 0)
                    failure ??= new StepFailure(StepFailureKind.Degraded, "PublishFailed", $"copy {name} refused the withdrawal");
                else
                    Write(copy, [.. copy.Kids.Where(k => !unpublished.Contains(k))]);
            }

            if (_signing is { } kid && unpublished.Contains(kid))
                Sign(null, forced: true);
            return Task.FromResult(failure);
        }

        private void Write(Copy copy, IReadOnlyList<string> kids)
        {
            if (copy.Kids.SequenceEqual(kids))
                return;
            foreach (var gone in copy.Kids.Except(kids))
            {
                copy.ArrivedAt.Remove(gone);
                Assert.True(_revoked.Contains(gone) || !_everSigned.Contains(gone) || (_stoppedSigning.TryGetValue(gone, out var stopped) && Outlived(stopped)),
                    Explain($"invariant 3: {Short(gone)} left a JWKS copy {(_stoppedSigning.TryGetValue(gone, out var s) ? $"{_real - s.At} after it stopped signing (overlap then {s.Overlap}, tokens {s.TokenLifetime})" : "while it still signs")}"));
            }

            foreach (var added in kids.Except(copy.Kids))
            {
                if (copy.Versions > 0)
                    copy.ArrivedAt[added] = _real;
            }

            copy.Kids = [.. kids];
            copy.Versions++;
        }

        /// <summary>A key that stopped signing may leave once its last tokens expired and its overlap (the shorter of then and now) ran.</summary>
        private bool Outlived((TimeSpan At, TimeSpan Overlap, TimeSpan TokenLifetime) stopped) =>
            _real - stopped.At >= stopped.TokenLifetime && _real - stopped.At >= (stopped.Overlap < _policy.Overlap ? stopped.Overlap : _policy.Overlap);

        private void Sign(string? kid, bool forced)
        {
            if (kid == _signing)
                return;
            if (kid is not null)
            {
                Activations++;
                _everSigned.Add(kid);
                _stoppedSigning.Remove(kid);
                foreach (var (name, copy) in _copies)
                {
                    Assert.True(copy.Kids.Contains(kid), Explain($"invariant 1: {Short(kid)} signs but copy {name} does not hold it"));
                    if (!forced && copy.ArrivedAt.TryGetValue(kid, out var arrived))
                        Assert.True(_real - arrived >= _policy.PrePublish, Explain($"invariant 2: {Short(kid)} signs {_real - arrived} after reaching copy {name} (prePublish {_policy.PrePublish})"));
                }
            }

            if (_signing is { } previous)
                _stoppedSigning[previous] = (_real, _policy.Overlap, _policy.MaxTokenLifetime + _policy.ClockSkew);
            _signing = kid;
        }

        private void Check(StepOutcome outcome)
        {
            foreach (var (name, copy) in _copies.Where(c => c.Value.Refusing == 0))
                Assert.True(!copy.Kids.Any(_revoked.Contains), Explain($"invariant 5: a revoked kid is in copy {name}"));
            Assert.True(_signing is null || !_revoked.Contains(_signing), Explain("invariant 5: a revoked kid signs"));
            foreach (var (name, copy) in _copies)
                Assert.True(_signing is null || copy.Kids.Contains(_signing), Explain($"invariant 1: the signing key is not in copy {name}"));
            var keys = _status?.Keys ?? [];
            Assert.True(keys.Select(k => k.Generation).Distinct().Count() == keys.Count, Explain("invariant 6: a generation twice"));
            Assert.True(keys.Count(k => k.State == KeyState.Active) <= 1, Explain("two active keys"));
            // Status is the truth (invariant 11): a key it calls Retired or Revoked is in no copy, a refusing one included.
            foreach (var gone in keys.Where(k => k.State is KeyState.Retired or KeyState.Revoked))
                Assert.True(!_copies.Values.Any(c => c.Kids.Contains(gone.Kid)), Explain($"{Short(gone.Kid)} is {gone.State} but published"));
            if (outcome is StepOutcome.Moved)
                Assert.True(_status?.ActiveKeyId == _signing, Explain($"status says {Short(_status?.ActiveKeyId)} is active, the signing Secret holds {Short(_signing)}"));
        }

        public string Explain(string what) => what + "\nsteps:\n" + string.Join("\n", _log.TakeLast(60));

        private static string Short(string? kid) => kid is null ? "none" : kid[..6];
    }
}
