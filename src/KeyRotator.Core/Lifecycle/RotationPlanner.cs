using System.Globalization;
using KeyRotator.Model.Resources;
using KeyRotator.Model.Time;

namespace KeyRotator.Core.Lifecycle;

/// <summary>
/// The rotation rules in one place (the invariants are numbered in docs/architecture.md): (policy, status, vault keys, now) → plan.
/// Timing follows SPIRE's prepare/activate model: a rotation due at T publishes the next key at
/// T − prePublish; at T it signs, and the previous key stays published until T + overlap.
/// Pure and deterministic: the same input always gives the same plan.
/// Longer than 300 lines on purpose: the rules are read (and reviewed) top to bottom in the order they
/// apply to one set, revocation and retirement first; split across files they would hide that order.
/// </summary>
public static class RotationPlanner
{
    /// <summary>
    /// The rules that never wait (invariant 10), for when nothing else may happen (an invalid spec, a
    /// name conflict, a vault that does not answer): listed kids are revoked and keys whose overlap has
    /// ended are retired. Everything else in status stays as it is.
    /// </summary>
    public static Withdrawal Withdraw(SigningKeySetStatus? status, IReadOnlySet<string> revokedKeyIds, DateTimeOffset now)
    {
        var keys = new List<KeyStatus>(status?.Keys ?? []);
        var events = new List<PlanEvent>();
        SafetyRules.Revoke(keys, revokedKeyIds, now, events);
        SafetyRules.Retire(keys, now, events);
        var unpublished = keys.Where(k => k.State is KeyState.Retired or KeyState.Revoked).Select(k => k.Kid).Concat(revokedKeyIds).ToHashSet(StringComparer.Ordinal);
        var retiring = keys.Where(k => k.State == KeyState.Retiring).Select(k => k.RetiresAt!.Value).ToList();
        var updated = (status ?? new SigningKeySetStatus()) with
        {
            Keys = keys,
            ActiveKeyId = keys.FirstOrDefault(k => k.State == KeyState.Active)?.Kid,
            NextKeyId = keys.FirstOrDefault(k => k.State == KeyState.Pending)?.Kid,
        };
        return new Withdrawal(updated, unpublished, events, retiring.Count == 0 ? null : retiring.Min());
    }

    public static RotationPlan Plan(RotationInput input)
    {
        var work = new Work(input);

        work.RevokeKeysListedInSpec();
        work.KeepPublishedWhatTheSigningSecretHolds();
        work.KeepRetiringKeysForSignersNotYetSwitched();
        work.RetireKeysWhoseOverlapEnded();
        work.RollBackWhenVerifiersRejectTheNewKey();
        work.PublishNextKeyWhenDue();
        work.ActivatePendingKeyWhenItsTimeHasCome();
        work.PruneHistory();
        return work.ToPlan();
    }

    private sealed class Work(RotationInput input)
    {
        private readonly RotationPolicy _policy = input.Policy;
        private readonly DateTimeOffset _now = input.Now;
        private readonly List<KeyStatus> _keys = [.. input.Status?.Keys ?? []];
        private readonly List<PlanEvent> _events = [];
        private DateTimeOffset? _lastRotation = input.Status?.LastRotationTime;
        private string? _rotateNowHandled = input.Status?.LastRotateNowRequest;
        private bool _activeWasRevoked;
        private long? _createGeneration;
        private string? _trigger;
        private DateTimeOffset? _waitUntil;
        private string? _waitingFor;
        private string? _propagationIncomplete;
        private string? _propagationReason;
        private string? _rolledBack;
        private bool _quietTransition;

        private KeyStatus? Active => _keys.FirstOrDefault(k => k.State == KeyState.Active);

        private KeyStatus? Pending => _keys.FirstOrDefault(k => k.State == KeyState.Pending);

        private bool RotateNowRequested => input.RotateNowRequest is { Length: > 0 } request && request != _rotateNowHandled;

        /// <summary>When the active key is due to be replaced (now, for a set that never had one).</summary>
        private DateTimeOffset DueAt => _lastRotation is { } last ? _policy.NextDue(last, input.JitterOffset) : _now;

        public void RevokeKeysListedInSpec() => _activeWasRevoked = SafetyRules.Revoke(_keys, _policy.RevokedKeyIds, _now, _events);

        public void RetireKeysWhoseOverlapEnded() => SafetyRules.Retire(_keys, _now, _events);

        /// <summary>
        /// A spike of unknown_kid failures naming the key that just started signing means verifiers do not
        /// have it: signing goes back to the previous key (still published, never a revoked one), which
        /// stops retiring; the new key stays published as pending and activates again only once verifiers
        /// hold it (or at maxActivationDelay). keyrotator.io/no-rollback: &lt;kid&gt; forbids it for that key.
        /// </summary>
        public void RollBackWhenVerifiersRejectTheNewKey()
        {
            if (input.UnknownKidSpikeOnActiveKey is not { } spike || Active is not { ActivatedAt: not null } active
                || input.Status?.ActiveKeyId != active.Kid || input.NoRollbackKid == active.Kid || Pending is not null)
                return;

            // Every verifier heard holds the key: the failures are old news, not a reason to go back.
            if (input.Propagation is { Verifiers: > 0 } seen && seen.VerifiersWithActiveKey >= seen.Verifiers)
                return;
            var previous = _keys
                .Where(k => k.State == KeyState.Retiring && k.RetiresAt > _now && !_policy.RevokedKeyIds.Contains(k.Kid))
                .OrderByDescending(k => k.Generation)
                .FirstOrDefault();
            if (previous is null)
                return;

            ReplaceKey(previous, previous with { State = KeyState.Active, RetiresAt = null });
            ReplaceKey(active, active with { State = KeyState.Pending, ActivatedAt = null, ActivatesAt = _now, RolledBackAt = _now });
            var stale = input.Propagation?.StaleVerifiers is { Count: > 0 } names ? $"; stale verifiers: {string.Join(", ", names)}" : "";
            _rolledBack = $"Signing went back from key {active.Kid} to {previous.Kid} at {Format(_now)}: {spike}{stale}. Key {active.Kid} stays published and signs again once every verifier heard holds it (at the latest {Format(_now + _policy.MaxActivationDelay)})";
            _trigger = RotationTriggers.Rollback;
            _events.Add(PlanEvent.Warning("RolledBack", _rolledBack));
        }

        /// <summary>
        /// The signing Secret is written before status; when the status write after it was refused (a
        /// rollback to a Retiring key that status never recorded), status can call the key that signs until
        /// now Retiring since long ago. Tokens it signed stay valid for their lifetime, so it stays published
        /// a whole overlap from now, as if it stopped signing now (it does, once the Secret is rewritten).
        /// A revoked key is never kept.
        /// </summary>
        public void KeepPublishedWhatTheSigningSecretHolds()
        {
            if (input.SigningKid is not { } kid || _policy.RevokedKeyIds.Contains(kid)
                || _keys.FirstOrDefault(k => k.Kid == kid && k.State == KeyState.Retiring) is not { } signing)
                return;
            var until = _now + _policy.Overlap;
            if (signing.RetiresAt >= until)
                return;
            ReplaceKey(signing, signing with { RetiresAt = until });
            _events.Add(PlanEvent.Warning("SigningSecretAhead",
                $"Key {kid} still signs in the signing Secret although status recorded it as stopped; it stays in the JWKS until {Format(until)} (overlap {GoDuration.Format(_policy.Overlap)}) so that the tokens it signed keep verifying"));
        }

        /// <summary>
        /// When signers report and some still sign with an older key, a Retiring key whose overlap ends now
        /// stays published another overlap (tokens those signers mint must verify), bounded by the active
        /// key's activation + overlap + maxActivationDelay.
        /// </summary>
        public void KeepRetiringKeysForSignersNotYetSwitched()
        {
            if (input.Propagation is not { Signers: > 0 } seen || seen.SignersOnActiveKey == seen.Signers
                || Active is not { ActivatedAt: { } activated } active)
                return;
            var bound = activated + _policy.Overlap + _policy.MaxActivationDelay;
            foreach (var key in _keys.Where(k => k.State == KeyState.Retiring && k.RetiresAt <= _now && _now < bound && !_policy.RevokedKeyIds.Contains(k.Kid)).ToList())
            {
                var until = Min(_now + _policy.Overlap, bound);
                ReplaceKey(key, key with { RetiresAt = until });
                _events.Add(PlanEvent.Warning("SignersNotSwitched",
                    $"Key {key.Kid} stays in the JWKS until {Format(until)}: {seen.Signers - seen.SignersOnActiveKey} of {seen.Signers} signers do not sign with {active.Kid} yet ({string.Join(", ", seen.StaleSigners ?? [])})"));
            }

            _propagationReason = "SignersNotSwitched";
            _propagationIncomplete = $"{seen.Signers - seen.SignersOnActiveKey} of {seen.Signers} signers do not sign with the active key {active.Kid}: {string.Join(", ", seen.StaleSigners ?? [])}; older keys stay published for them until {Format(bound)} at the latest";
        }

        public void PublishNextKeyWhenDue()
        {
            if (Pending is { } pending)
            {
                if (_activeWasRevoked)
                {
                    ReplaceKey(pending, pending with { ActivatesAt = _now });
                    _events.Add(ForcedRotation(pending.Kid, pending.CreatedAt));
                }
                else
                {
                    // A prePublish raised while the key waits applies to it too (verifiers may now cache the
                    // JWKS that long): it never signs before it has been published for the current prePublish.
                    var published = pending.CreatedAt!.Value + _policy.PrePublish;
                    if (pending.ActivatesAt < published)
                    {
                        ReplaceKey(pending, pending with { ActivatesAt = published });
                        _events.Add(PlanEvent.Normal("ActivationDeferred",
                            $"spec.rotation.prePublish is now {_policy.PrePublish}: key {pending.Kid}, published at {Format(pending.CreatedAt.Value)}, starts signing at {Format(published)}"));
                    }
                    else if (RotateNowRequested)
                    {
                        // Rotate as soon as the pending key has been published for prePublish.
                        var earliest = Max(published, _now);
                        if (earliest < pending.ActivatesAt)
                            ReplaceKey(pending, pending with { ActivatesAt = earliest });
                    }

                    if (RotateNowRequested)
                        _rotateNowHandled = input.RotateNowRequest;
                }

                return;
            }

            var bootstrap = Active is null && _lastRotation is null;
            var forced = Active is null && !bootstrap;
            var due = _now >= DueAt - _policy.PrePublish;
            if (!bootstrap && !forced && !due && !RotateNowRequested)
                return;

            var generation = _keys.Select(k => k.Generation).DefaultIfEmpty(0).Max() + 1;
            var stored = input.StoredKeys
                .Where(k => k.Generation >= generation && !_policy.RevokedKeyIds.Contains(k.Kid) && _keys.All(s => s.Kid != k.Kid))
                .OrderBy(k => k.Generation)
                .FirstOrDefault();
            if (stored is null)
            {
                _createGeneration = generation;
                return;
            }

            var activatesAt = forced ? _now
                : RotateNowRequested || bootstrap ? _now + _policy.PrePublish
                : Max(DueAt, _now + _policy.PrePublish);
            _keys.Add(new KeyStatus
            {
                Kid = stored.Kid,
                State = KeyState.Pending,
                Generation = stored.Generation,
                CreatedAt = _now,
                ActivatesAt = activatesAt,
                VaultRef = stored.VaultRef,
            });
            if (RotateNowRequested)
                _rotateNowHandled = input.RotateNowRequest;

            // The first key of a set says so in status alone (Ready=False PrePublishing, then KeyActive): an Event
            // would be a seventh write for every new set and tell nothing status does not (docs/benchmarks.md).
            if (bootstrap)
                _quietTransition = true;
            else
                _events.Add(PlanEvent.Normal("KeyPublished",
                    $"Key {stored.Kid} (generation {stored.Generation}) is published in the JWKS and starts signing at {Format(activatesAt)}"));
            if (forced)
                _events.Add(ForcedRotation(stored.Kid, _now));
        }

        public void ActivatePendingKeyWhenItsTimeHasCome()
        {
            if (Pending is not { } pending || pending.ActivatesAt > _now)
                return;
            if (!MayActivate(pending))
                return;

            var previous = Active;
            _trigger = previous is null && _lastRotation is null ? RotationTriggers.Initial
                : _activeWasRevoked || previous is null ? RotationTriggers.Revocation
                : _now < DueAt ? RotationTriggers.Manual
                : RotationTriggers.Scheduled;
            if (previous is not null)
            {
                var retiresAt = _now + _policy.Overlap;
                ReplaceKey(previous, previous with { State = KeyState.Retiring, RetiresAt = retiresAt });
                _events.Add(PlanEvent.Normal("KeyRetiring",
                    $"Key {previous.Kid} stopped signing and stays in the JWKS until {Format(retiresAt)} (overlap {GoDuration.Format(_policy.Overlap)})"));
            }

            ReplaceKey(pending, pending with { State = KeyState.Active, ActivatedAt = _now });
            _lastRotation = _now;
            if (_trigger == RotationTriggers.Initial)
                _quietTransition = true; // the first key: status says it (see PublishNextKeyWhenDue)
            else
                _events.Add(PlanEvent.Normal("KeyActivated", $"Key {pending.Kid} (generation {pending.Generation}) now signs"));
        }

        /// <summary>
        /// Confirmed activation: a due key also waits until every verifier heard holds it, up to
        /// maxActivationDelay past its due time; then it activates (or keeps waiting, onTimeout: Wait)
        /// and the set says which verifiers are stale. With no verifiers reporting, as Timed.
        /// </summary>
        private bool MayActivate(KeyStatus pending)
        {
            if (input.ForceActivationKid == pending.Kid || _activeWasRevoked)
                return true;

            // A key that was rolled back waits for verifiers whatever the activation mode, and with nobody
            // reporting it waits for the bound rather than activating into the same failures.
            if (pending.RolledBackAt is { } rolledBack && Active is not null)
            {
                if (_rolledBack is not null)
                    return false; // rolled back in this very plan
                var seenNow = input.Propagation;
                var confirmed = seenNow is { Verifiers: > 0, VerifiersWithNextKey: { } held } && held >= seenNow.Verifiers && input.Status?.NextKeyId == pending.Kid;
                var limit = rolledBack + _policy.MaxActivationDelay;
                if (confirmed || _now >= limit)
                    return true;
                _waitUntil = limit;
                _waitingFor = $"Key {pending.Kid} was rolled back and waits for verifiers until {Format(limit)}: {seenNow?.VerifiersWithNextKey ?? 0} of {seenNow?.Verifiers ?? 0} verifiers heard hold it";
                return false;
            }

            if (!_policy.ConfirmedActivation || Active is null || _activeWasRevoked
                || input.Status?.NextKeyId != pending.Kid || input.Propagation is not { Verifiers: > 0, VerifiersWithNextKey: { } holding } seen
                || holding >= seen.Verifiers)
                return true;

            var bound = pending.ActivatesAt!.Value + _policy.MaxActivationDelay;
            var stale = $"{holding} of {seen.Verifiers} verifiers hold key {pending.Kid}; stale: {string.Join(", ", seen.StaleVerifiers ?? [])}";
            if (_now < bound)
            {
                _waitUntil = bound;
                _waitingFor = $"Key {pending.Kid} is due and waits for verifiers until {Format(bound)}: {stale}";
                return false;
            }

            var wasIncomplete = ConditionSet.IsTrue(input.Status?.Conditions, ConditionSet.PropagationIncomplete);
            _propagationReason = "VerifiersStale";
            if (!_policy.ActivateOnTimeout)
            {
                _propagationIncomplete = $"maxActivationDelay passed at {Format(bound)} and key {pending.Kid} still waits (onTimeout: Wait): {stale}";
                _waitUntil = _now + TimeSpan.FromSeconds(30);
                _waitingFor = _propagationIncomplete;
                if (!wasIncomplete)
                    _events.Add(PlanEvent.Warning("PropagationIncomplete", _propagationIncomplete));
                return false;
            }

            _propagationIncomplete = $"key {pending.Kid} was activated at maxActivationDelay ({Format(bound)}) although not every verifier holds it: {stale}";
            if (!wasIncomplete)
                _events.Add(PlanEvent.Warning("PropagationIncomplete", _propagationIncomplete));
            return true;
        }

        public void PruneHistory()
        {
            var history = _keys
                .Where(k => k.State is KeyState.Retired or KeyState.Revoked)
                .OrderByDescending(k => k.Generation)
                .Skip(_policy.RetiredKeyHistory)
                .ToList();
            foreach (var key in history)
                _keys.Remove(key);
        }

        public RotationPlan ToPlan()
        {
            var active = Active;
            var pending = Pending;
            var published = _keys.Where(k => k.State == KeyState.Active)
                .Concat(_keys.Where(k => k.State == KeyState.Pending))
                .Concat(_keys.Where(k => k.State == KeyState.Retiring).OrderByDescending(k => k.Generation))
                .Select(k => k.Kid)
                .ToList();

            DateTimeOffset? nextRotation = pending?.ActivatesAt ?? (_lastRotation is null ? null : DueAt);
            var wakes = _keys.Where(k => k.State == KeyState.Retiring).Select(k => k.RetiresAt!.Value).ToList();
            if (pending is not null)
                wakes.Add(_waitUntil ?? pending.ActivatesAt!.Value);
            else if (nextRotation is { } rotation)
                wakes.Add(rotation - _policy.PrePublish);
            DateTimeOffset? nextWake = wakes.Count == 0 ? null : Max(wakes.Min(), _now);

            var conditions = input.Status?.Conditions;
            conditions = active is not null
                ? ConditionSet.Set(conditions, ConditionSet.Ready, true, "KeyActive",
                    $"Key {active.Kid} signs; {published.Count} key(s) published", input.Generation, _now)
                : pending is not null
                    ? ConditionSet.Set(conditions, ConditionSet.Ready, false, "PrePublishing",
                        $"The first key {pending.Kid} is being pre-published and starts signing at {Format(pending.ActivatesAt!.Value)}", input.Generation, _now)
                    : ConditionSet.Set(conditions, ConditionSet.Ready, false, "NoActiveKey",
                        "No key signs yet: the next key could not be created in the vault", input.Generation, _now);
            conditions = pending is not null && _waitingFor is not null
                ? ConditionSet.Set(conditions, ConditionSet.Rotating, true, "WaitingForVerifiers", _waitingFor, input.Generation, _now)
                : pending is not null
                ? ConditionSet.Set(conditions, ConditionSet.Rotating, true, "PrePublishing",
                    $"Key {pending.Kid} is published and starts signing at {Format(pending.ActivatesAt!.Value)}", input.Generation, _now)
                : ConditionSet.Set(conditions, ConditionSet.Rotating, false, "Idle",
                    nextRotation is { } next ? $"Next rotation at {Format(next)}" : "No rotation scheduled", input.Generation, _now);

            // Verifiers heard that lack the key that signs (it was activated at the bound, or they fell behind).
            if (_propagationIncomplete is null && pending is null && active is not null && input.Status?.ActiveKeyId == active.Kid
                && input.Propagation is { Verifiers: > 0 } seen && seen.VerifiersWithActiveKey < seen.Verifiers)
            {
                _propagationReason = "VerifiersStale";
                _propagationIncomplete = $"{seen.Verifiers - seen.VerifiersWithActiveKey} of {seen.Verifiers} verifiers do not hold the active key {active.Kid} and reject its tokens: {string.Join(", ", seen.StaleVerifiers ?? [])}";
            }

            if (_rolledBack is not null)
                conditions = ConditionSet.Set(conditions, ConditionSet.RolledBack, true, "UnknownKidSpike", _rolledBack, input.Generation, _now);
            else if (_trigger is not null && ConditionSet.IsTrue(conditions, ConditionSet.RolledBack))
                conditions = ConditionSet.Set(conditions, ConditionSet.RolledBack, false, "Reactivated", $"Key {active?.Kid} signs again", input.Generation, _now);

            if (_propagationIncomplete is not null)
                conditions = ConditionSet.Set(conditions, ConditionSet.PropagationIncomplete, true, _propagationReason!, _propagationIncomplete, input.Generation, _now);
            else if (_policy.ConfirmedActivation || ConditionSet.Find(conditions, ConditionSet.PropagationIncomplete) is not null)
                conditions = ConditionSet.Set(conditions, ConditionSet.PropagationIncomplete, false, "Propagated",
                    "No verifier or signer heard within the window lacks a key in use", input.Generation, _now);

            var status = new SigningKeySetStatus
            {
                ObservedGeneration = input.Generation,
                ActiveKeyId = active?.Kid,
                NextKeyId = pending?.Kid,
                Keys = _keys.OrderByDescending(k => k.Generation).ToList(),
                LastRotationTime = _lastRotation,
                NextRotationTime = nextRotation,
                LastRotateNowRequest = _rotateNowHandled,
                Conditions = conditions,
            };

            return new RotationPlan
            {
                CreateGeneration = _createGeneration,
                Status = status,
                PublishedKeyIds = published,
                Events = _events,
                Transitions = _events.Count > 0 || _quietTransition,
                RotationTrigger = _trigger,
                NextWakeTime = _createGeneration is null ? nextWake : _now,
                NextTimedWakeTime = nextWake,
            };
        }

        private PlanEvent ForcedRotation(string kid, DateTimeOffset? publishedAt)
        {
            var publishedFor = publishedAt is { } at ? _now - at : TimeSpan.Zero;
            return PlanEvent.Warning("ForcedRotation",
                $"The active key was revoked, so key {kid} was activated at once, after being published for {GoDuration.Format(publishedFor)} " +
                $"instead of prePublish {GoDuration.Format(_policy.PrePublish)}: verifiers holding an older JWKS may reject its tokens until they reload it");
        }

        private void ReplaceKey(KeyStatus old, KeyStatus replacement) => _keys[_keys.IndexOf(old)] = replacement;

        private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

        private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

        private static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
    }
}
