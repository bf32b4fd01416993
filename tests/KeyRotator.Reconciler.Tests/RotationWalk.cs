using k8s.Autorest;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Controllers;
using KeyRotator.Operator.Observability;
using KeyRotator.Operator.Publishing;
using KeyRotator.Operator.Vault;
using KeyRotator.Testing;
using static KeyRotator.Reconciler.Tests.ReconcileWorld;

namespace KeyRotator.Reconciler.Tests;

/// <summary>
/// One seeded random walk of a set through the operator as built for production (the reconciler,
/// <c>RotationStep</c> over the real <c>SetEffects</c>, <c>KeyWithdrawer</c>, publishers and Kubernetes
/// key store) on <see cref="InMemoryObjectClient"/>: no decision of the product is made here, the walk
/// only changes the world (time, the spec, refusals by the API server, what verifiers report) and
/// watches what verifiers and signers would see (<see cref="WalkObserver"/>).
/// </summary>
internal sealed partial class RotationWalk : IAsyncDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
    private static readonly string[] PrePublishes = ["10m", "15m", "30m"];
    private static readonly string[] Overlaps = ["20m", "1h"];
    private static readonly string[] Intervals = ["1h", "6h"];
    private static readonly string[] Targets = ["t1", "t2", "t3"];

    private readonly Random _random;
    private readonly WalkClock _clock = new(Start);
    private readonly ReconcileWorld _world;
    private readonly WalkObserver _observer;
    private readonly Dictionary<string, int> _refusing = new(StringComparer.Ordinal);
    private readonly KeyGenerator _generator;
    private TaskCompletionSource _generated = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _quietPending = -1;
    private DateTimeOffset? _wake;

    private bool Rsa { get; }
    private int _specInvalid;
    private int _rotateNows;

    private RotationWalk(int seed)
    {
        _random = new Random(seed);
        _world = new ReconcileWorld(_clock);
        _observer = new WalkObserver(_world, _clock);
        _generator = _world.Service<KeyGenerator>();
        _generator.Generated += (_, _) => _generated.TrySetResult();
        _observer.Log($"seed {seed}");
        foreach (var target in Targets)
            _world.Api.Seed(new V1Namespace { Metadata = new V1ObjectMeta { Name = target, Annotations = new Dictionary<string, string> { [Labels.AcceptJwksFromAnnotation] = Ns } } });

        // One walk signs with RSA (its keys take real CPU time, made off the workers); every third
        // activates Confirmed (verifiers must hold the key, 30m at most).
        var rsa = Rsa = seed == 6;
        var confirmed = seed % 3 == 1;
        _world.Apply(ASet()
            .WithAlgorithm(rsa ? "RS256" : "ES256", rsa ? 2048 : null)
            .WithRotation(r => r with
            {
                Interval = Intervals[_random.Next(Intervals.Length)],
                PrePublish = PrePublishes[_random.Next(PrePublishes.Length)],
                Overlap = Overlaps[_random.Next(Overlaps.Length)],
                Activation = confirmed ? "Confirmed" : null,
                MaxActivationDelay = confirmed ? "30m" : null,
            })
            .WithSpec(s => s with { MaxTokenLifetime = "10m", ClockSkew = "1m", SignatureFailureAlert = new SignatureFailureAlertSpec { Window = "5m", Threshold = 10 } }));
        _observer.Log($"{(rsa ? "RS256" : "ES256")}{(confirmed ? ", Confirmed activation" : "")}, rotation {KubernetesJsonOf(_world.Set().Spec.Rotation)}");
        // Every third walk (from the second) starts with the key store's name taken by someone else's Secret.
        if (seed % 3 == 2)
            TakeKeyStoreName(3 + (seed % 7));
    }

    /// <summary>A walk of <paramref name="steps"/> steps from the set's first reconcile, stopped at the first broken invariant (returned).</summary>
    public static async Task<(WalkObserver Observer, Exception? Broken)> RunAsync(int seed, int steps)
    {
        await using var walk = new RotationWalk(seed);
        try
        {
            await walk.ReconcileAsync();
            await walk.WhenKeyGeneratedAsync();
            // RSA keys cost real CPU time to make: the RSA walk is shorter, to keep the fast tests fast.
            for (var step = 0; step < (walk.Rsa ? steps / 2 : steps); step++)
                await walk.StepAsync();
            return (walk._observer, null);
        }
        catch (Exception e) when (e is Xunit.Sdk.XunitException or InvalidOperationException or NullReferenceException or KeyNotFoundException or ArgumentException)
        {
            return (walk._observer, e);
        }
    }

    private async Task StepAsync()
    {
        switch (_random.Next(24))
        {
            case < 6:
                // The controller wakes the set when it asked to (or soon, after a failure).
                var until = _wake is { } at && at > _clock.GetUtcNow() ? at - _clock.GetUtcNow() : TimeSpan.FromSeconds(_random.Next(1, 30));
                Pass(until < TimeSpan.FromHours(7) ? until : TimeSpan.FromHours(7));
                _observer.Log($"wake at {_clock.GetUtcNow():dd HH:mm:ss}");
                break;
            case < 8:
                Pass(TimeSpan.FromSeconds(_random.Next(1, 3 * 3600)));
                _observer.Log($"time passes to {_clock.GetUtcNow():dd HH:mm:ss}");
                break;
            case 8:
                _clock.StepBack(TimeSpan.FromSeconds(_random.Next(1, 2 * 3600)));
                _observer.Log($"wall clock stepped back to {_clock.GetUtcNow():dd HH:mm:ss}");
                break;
            case 9:
                _clock.StepForward(TimeSpan.FromSeconds(_random.Next(1, 2 * 3600)));
                _observer.Log($"wall clock stepped forward to {_clock.GetUtcNow():dd HH:mm:ss} ({_clock.Behind} behind)");
                break;
            case 10:
                EditSet(set => (set.Metadata.Annotations ??= new Dictionary<string, string>())[Labels.RotateNowAnnotation] = $"r{++_rotateNows}", "rotate-now");
                break;
            case 11:
                var known = _world.Set().Status?.Keys?.Where(k => k.State != "Revoked").Select(k => k.Kid).ToList() ?? [];
                if (known.Count > 0)
                {
                    var kid = known[_random.Next(known.Count)];
                    _observer.Revoking(kid);
                    EditSet(set => set.Spec = set.Spec with { RevokedKeyIds = [.. set.Spec.RevokedKeyIds ?? [], kid] }, $"revoke {WalkObserver.Short(kid)}");
                }

                break;
            case 12:
                var (prePublish, overlap, interval) = (PrePublishes[_random.Next(PrePublishes.Length)], Overlaps[_random.Next(Overlaps.Length)], Intervals[_random.Next(Intervals.Length)]);
                EditSet(set => set.Spec = set.Spec with { Rotation = set.Spec.Rotation with { PrePublish = prePublish, Overlap = overlap, Interval = interval } },
                    $"policy: prePublish {prePublish}, overlap {overlap}, interval {interval}");
                break;
            case 13:
                if (_specInvalid == 0)
                {
                    _specInvalid = _random.Next(1, 6);
                    _observer.InvalidOverlap = _world.Set().Spec.Rotation.Overlap;
                    EditSet(set => set.Spec = set.Spec with { Rotation = set.Spec.Rotation with { Overlap = "1m" } }, $"spec invalid (overlap 1m) for {_specInvalid} steps");
                }

                break;
            case 14:
                Refuse("status", "status writes");
                break;
            case 15:
                var copy = new[] { Ns }.Concat(Targets).ElementAt(_random.Next(Targets.Length + 1));
                Refuse($"copy:{copy}", $"the JWKS copy in {copy}");
                break;
            case 16:
                var added = Targets[_random.Next(Targets.Length)];
                EditSet(set => set.Spec = set.Spec with { Jwks = (set.Spec.Jwks ?? new JwksSpec()) with { TargetNamespaces = [.. (set.Spec.Jwks?.TargetNamespaces ?? []).Append(added).Distinct()] } }, $"target {added} added");
                break;
            case 17:
                var removed = Targets[_random.Next(Targets.Length)];
                EditSet(set => set.Spec = set.Spec with { Jwks = (set.Spec.Jwks ?? new JwksSpec()) with { TargetNamespaces = [.. (set.Spec.Jwks?.TargetNamespaces ?? []).Where(t => t != removed)] } }, $"target {removed} removed");
                break;
            case 18:
                RefuseKeyStore();
                break;
            case 19:
                Refuse("signing", "the signing Secret");
                break;
            case 20:
            case 21:
                // A verifier in one namespace reloads the JWKS it mounts (and reports the hash it now holds).
                var ns = new[] { Ns }.Concat(Targets).ElementAt(_random.Next(Targets.Length + 1));
                if (_world.Api.Stored<V1ConfigMap>(ns, $"{Name}-jwks")?.Data is { } data && data.TryGetValue(JwksPublisher.JwksKey, out var json))
                {
                    _world.Service<PropagationTracker>().ObserveVerifier(Ns, Name, $"verifier-{ns}", KeyRotator.Model.Jose.JwksDocument.ContentHashOf(json));
                    _observer.Log($"verifier in {ns} holds the JWKS published there");
                }

                break;
            case 22:
                if (_world.Signing().Kid is { } signing)
                {
                    _world.Service<SignatureFailureTracker>().Record(Ns, Name, _world.Set().Spec.SignatureFailureAlert, "unknown_kid", signing, 50);
                    _observer.Log($"unknown_kid spike on {WalkObserver.Short(signing)}");
                }

                break;
            default:
                if (_world.Set().Status?.NextKeyId is { } next)
                {
                    _observer.Forcing(next);
                    EditSet(set => (set.Metadata.Annotations ??= new Dictionary<string, string>())[Labels.ForceActivationAnnotation] = next, $"force-activation of {WalkObserver.Short(next)}");
                }

                break;
        }

        await ReconcileAsync();
        await WhenKeyGeneratedAsync();
        if (_specInvalid > 0 && --_specInvalid == 0)
        {
            var overlap = _observer.InvalidOverlap;
            EditSet(set => set.Spec = set.Spec with { Rotation = set.Spec.Rotation with { Overlap = overlap } }, "spec valid again");
            _observer.InvalidOverlap = null;
        }

        foreach (var what in _refusing.Keys.ToList())
        {
            if (--_refusing[what] <= 0)
                _refusing.Remove(what);
        }

        FreeKeyStoreNameInTime();
    }

    /// <summary>
    /// An RSA key is made off the workers and the controller reconciles the set when it is ready: the walk
    /// waits for that (no fake time passes) and reconciles as the controller would. A key made but no longer
    /// wanted stays counted as pending without another event: the walk then stops waiting for it.
    /// </summary>
    private async Task WhenKeyGeneratedAsync()
    {
        if (_generator.Pending == 0 || _generator.Pending == _quietPending)
            return;
        try
        {
            await _generated.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
            _quietPending = _generator.Pending;
            return;
        }

        _observer.Log("a key was generated: the controller reconciles");
        await ReconcileAsync();
    }

    private async Task ReconcileAsync()
    {
        if (_generated.Task.IsCompleted)
            _generated = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _world.Api.StopRefusing();
        foreach (var what in _refusing.Keys)
            _world.Api.Refuse(When(what));
        _observer.BeforeReconcile();
        _world.Api.ClearWrites();
        bool failed;
        string? held = null;
        try
        {
            var result = await _world.ReconcileAsync();
            _wake = result.WakeAt;
            failed = result.Error is not null || result.Retry;
            held = result.Error is { Kind: StepFailureKind.Held } hold ? hold.Reason : null;
            _observer.Log($"  {(result.Error is { } error ? $"{error.Kind} {error.Reason}" : result.Retry ? "retry" : "ok")}, wake {result.WakeAt:dd HH:mm:ss}");
        }
        catch (HttpOperationException e)
        {
            // A refused write the reconcile does not handle itself: the controller retries with backoff.
            _wake = null;
            failed = true;
            _observer.Log($"  threw: {ApiRequestOf(e)} {(int)e.Response.StatusCode}");
        }

        _observer.Log($"  writes: {string.Join(", ", _world.Api.Writes.Where(w => w.Kind != "Event"))}");
        _observer.AfterReconcile(refused: [.. _refusing.Keys], failed, held);
    }

    private void Refuse(string what, string description)
    {
        var steps = _random.Next(1, 5);
        _refusing[what] = steps;
        _observer.Log($"{description} refused for {steps} steps");
    }

    private void EditSet(Action<V1Alpha1SigningKeySet> edit, string description)
    {
        _world.Api.Change(Ns, Name, edit);
        _observer.Log(description);
        _observer.PolicyChanged(_world.Set().Spec);
    }

    private void Pass(TimeSpan span) => _clock.Advance(span);

    private static string ApiRequestOf(HttpOperationException e) => $"{e.Request?.Method} {e.Request?.RequestUri?.AbsolutePath}";

    private static string KubernetesJsonOf(RotationSpec rotation) => k8s.KubernetesJson.Serialize(rotation);

    public ValueTask DisposeAsync() => _world.DisposeAsync();
}
