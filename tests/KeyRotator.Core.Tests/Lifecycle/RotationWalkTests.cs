using KeyRotator.Core.Keys;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Core.Model;

namespace KeyRotator.Core.Tests.Lifecycle;

/// <summary>
/// Seeded random walks over time steps, wake-ups, rotate-now requests, revocations, specs turning invalid
/// and vault outages, driving the planner the way the reconciler does (<see cref="RotationPlanner.Plan"/>
/// when it may move forward, <see cref="RotationPlanner.Withdraw"/> when it is held), with the invariants
/// of design §2 checked after every step. A failure names the seed and the steps that led to it.
/// </summary>
public sealed class RotationWalkTests
{
    public static TheoryData<int> Seeds()
    {
        var seeds = new TheoryData<int>();
        for (var seed = 1; seed <= 40; seed++)
            seeds.Add(seed);
        return seeds;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Every_step_of_a_random_walk_keeps_the_invariants(int seed)
    {
        var walk = new Walk(seed);
        for (var step = 0; step < 80; step++)
            walk.Step();
    }

    private sealed class Walk
    {
        private readonly Random _random;
        private readonly RotationHarness _harness = new();
        private readonly HashSet<string> _revoked = new(StringComparer.Ordinal);
        private readonly Dictionary<string, DateTimeOffset> _publishedSince = new(StringComparer.Ordinal);
        private readonly Dictionary<string, DateTimeOffset> _stoppedSigningAt = new(StringComparer.Ordinal);
        private readonly List<string> _log = [];
        private List<string> _published = [];
        private string? _signing;
        private bool _specInvalid;
        private bool _vaultDown;
        private int _rotateNow;

        public Walk(int seed)
        {
            _random = new Random(seed);
            _log.Add($"seed {seed}");
            Reconcile();
        }

        public void Step()
        {
            var action = _random.Next(10);
            switch (action)
            {
                case 0 or 1 or 2:
                    var wake = _harness.LastPlan?.NextWakeTime;
                    if (wake is { } at && at > _harness.Now)
                        _harness.Clock.SetUtcNow(at);
                    _log.Add($"wake at {_harness.Now:HH:mm:ss}");
                    break;
                case 3 or 4:
                    _harness.Clock.Advance(TimeSpan.FromSeconds(_random.Next(1, 3 * 3600)));
                    _log.Add($"advance to {_harness.Now:dd HH:mm:ss}");
                    break;
                case 5:
                    _harness.RotateNow = $"r{++_rotateNow}";
                    _log.Add("rotate-now");
                    break;
                case 6:
                    var known = _harness.Status?.Keys?.Where(k => k.State != KeyState.Revoked).Select(k => k.Kid).ToList() ?? [];
                    if (known.Count > 0)
                    {
                        var kid = known[_random.Next(known.Count)];
                        _revoked.Add(kid);
                        _log.Add($"revoke {kid[..8]}");
                    }

                    break;
                case 7:
                    _specInvalid = !_specInvalid;
                    _log.Add(_specInvalid ? "spec invalid" : "spec valid");
                    break;
                case 8:
                    _vaultDown = !_vaultDown;
                    _log.Add(_vaultDown ? "vault down" : "vault up");
                    break;
                default:
                    _harness.Clock.Advance(TimeSpan.FromSeconds(_random.Next(1, 120)));
                    _log.Add($"advance to {_harness.Now:dd HH:mm:ss}");
                    break;
            }

            Reconcile();
        }

        private void Reconcile()
        {
            var now = _harness.Now;
            var before = _harness.Status;
            if (_specInvalid || _vaultDown)
            {
                // Held: only safety happens, from what is already published.
                var withdrawal = RotationPlanner.Withdraw(_harness.Status, _revoked, now);
                _harness.Status = withdrawal.Status;
                Publish(_published.Where(k => !withdrawal.Unpublished.Contains(k)).ToList(), _signing is { } s && !withdrawal.Unpublished.Contains(s) ? s : null, now, forced: false);
            }
            else
            {
                _harness.Policy = _harness.Policy with { RevokedKeyIds = new HashSet<string>(_revoked, StringComparer.Ordinal) };
                var activeBefore = before?.ActiveKeyId;
                var plan = _harness.Reconcile();
                var forced = activeBefore is null || _revoked.Contains(activeBefore);
                Publish([.. plan.PublishedKeyIds], plan.ActiveKeyId, now, forced);
            }

            Check(now);
        }

        private void Publish(List<string> published, string? signing, DateTimeOffset now, bool forced)
        {
            foreach (var kid in published.Where(k => !_publishedSince.ContainsKey(k)))
                _publishedSince[kid] = now;
            if (signing != _signing)
            {
                if (signing is not null && !forced)
                {
                    var publishedFor = now - _publishedSince[signing];
                    Assert.True(publishedFor >= _harness.Policy.PrePublish,
                        Explain($"invariant 2: {signing[..8]} signs after being published only {publishedFor}"));
                }

                if (_signing is not null)
                    _stoppedSigningAt[_signing] = now;
            }

            foreach (var gone in _published.Except(published))
            {
                if (_revoked.Contains(gone) || !_stoppedSigningAt.TryGetValue(gone, out var stopped))
                    continue;
                Assert.True(now - stopped >= _harness.Policy.Overlap,
                    Explain($"invariant 3: {gone[..8]} left the JWKS {now - stopped} after it stopped signing, overlap {_harness.Policy.Overlap}"));
            }

            _published = published;
            _signing = signing;
        }

        private void Check(DateTimeOffset now)
        {
            Assert.True(_published.All(k => !_revoked.Contains(k)), Explain("invariant 5: a revoked kid is published"));
            Assert.True(_signing is null || !_revoked.Contains(_signing), Explain("invariant 5: a revoked kid signs"));
            Assert.True(_signing is null || _published.Contains(_signing), Explain("invariant 1: the signing key is not in the JWKS"));
            var keys = _harness.Status?.Keys ?? [];
            Assert.True(keys.Select(k => k.Generation).Distinct().Count() == keys.Count, Explain("invariant 6: a generation twice"));
            Assert.True(keys.Count(k => k.State == KeyState.Active) <= 1, Explain("two active keys"));
            foreach (var retiring in keys.Where(k => k.State == KeyState.Retiring))
                Assert.True(retiring.RetiresAt > now, Explain($"invariant 10: {retiring.Kid[..8]} still Retiring after its overlap"));
            foreach (var gone in keys.Where(k => k.State is KeyState.Retired or KeyState.Revoked))
                Assert.False(_published.Contains(gone.Kid), Explain($"{gone.Kid[..8]} is {gone.State} but published"));
            if (!_specInvalid && !_vaultDown && _harness.Status?.ActiveKeyId is { } active)
                Assert.Equal(active, _signing);
        }

        private string Explain(string what) => what + "\nsteps: " + string.Join(" | ", _log);
    }
}
