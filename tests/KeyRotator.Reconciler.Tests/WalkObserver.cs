using System.Text;
using k8s;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Resources;
using KeyRotator.Model.Time;
using KeyRotator.Operator.Publishing;
using KeyRotator.Operator.Vault;
using KeyRotator.Testing;
using Xunit;
using static KeyRotator.Reconciler.Tests.ReconcileWorld;

namespace KeyRotator.Reconciler.Tests;

/// <summary>
/// What verifiers and signers see during a walk, and the invariants of docs (design.md, section 2) checked
/// on it after every reconcile, in true time (<see cref="WalkClock.Measured"/>): the JWKS copies in the set's namespace and the
/// target namespaces, and the signing Secret. A token signed with the Secret's key verifies against every
/// copy verifiers read (1); no key signs before it was published prePublish in every copy, the first one
/// included (2); a key that stopped signing stays published through its tokens and the overlap (3); a
/// revoked kid is in no copy that accepts writes and is never signed with (5); status calls no published
/// key Retired or Revoked, names the signing key Active after a clean reconcile, and never two (11, 6).
/// </summary>
internal sealed class WalkObserver(ReconcileWorld world, WalkClock clock)
{
    private static readonly string[] Namespaces = [Ns, "t1", "t2", "t3"];
    private readonly List<string> _log = [];
    private readonly Dictionary<string, CopyView> _copies = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TimeSpan> _firstPublished = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (TimeSpan At, TimeSpan Overlap, TimeSpan Tokens)> _stoppedSigning = new(StringComparer.Ordinal);
    private readonly HashSet<string> _everSigned = new(StringComparer.Ordinal);
    private readonly HashSet<string> _forced = new(StringComparer.Ordinal);
    private string? _signing;
    private string? _lastSigner;
    private string? _verified;
    private TimeSpan _overlap = TimeSpan.MaxValue;

    /// <summary>The valid overlap while the walk has made the spec invalid (its overlap then is not the policy).</summary>
    public string? InvalidOverlap { get; set; }

    public int Activations { get; private set; }

    public int Forced { get; private set; }

    public int RolledBack { get; private set; }

    public int RevokedWhilePublished { get; private set; }

    public int Failed { get; private set; }

    public int TokensVerified { get; private set; }

    /// <summary>Reconciles that held the set at NameConflict while someone else's Secret took the key store's name.</summary>
    public int HeldOnNameConflict { get; private set; }

    /// <summary>The Secret (as JSON) that someone else keeps at the key store's name, while it is there.</summary>
    private string? _foreign;

    private TimeSpan Real => clock.Measured;

    public void Log(string line) => _log.Add(line);

    public void Revoking(string kid) => RevokedWhilePublished += _copies.Values.Any(c => c.Kids.Contains(kid)) ? 1 : 0;

    public void Forcing(string kid) => _forced.Add(kid);

    public void NameTaken(V1Secret foreign) => _foreign = KubernetesJson.Serialize(foreign);

    public void NameFreed() => _foreign = null;

    public void PolicyChanged(SigningKeySetSpec spec)
    {
        if (InvalidOverlap is null && GoDuration.TryParse(spec.Rotation.Overlap, out var overlap))
            _overlap = overlap;
    }

    public void BeforeReconcile()
    {
        if (_overlap == TimeSpan.MaxValue)
            PolicyChanged(world.Set().Spec);
        foreach (var ns in Namespaces.Where(ns => ns != Ns && !Targeted().Contains(ns)))
        {
            // A copy the spec no longer names is not what verifiers there are promised (it is deleted or left behind).
            if (_copies.TryGetValue(ns, out var copy))
                copy.Dropped = true;
        }
    }

    public void AfterReconcile(IReadOnlyList<string> refused, bool failed, string? held)
    {
        Failed += failed ? 1 : 0;
        ObserveKeyStoreName(refused, held);
        var set = world.Set();
        Log($"  status: {string.Join(" ", (set.Status?.Keys ?? []).Select(k => $"{Short(k.Kid)}:{k.State}"))}; copy in {Ns}: {string.Join(" ", (_copies.TryGetValue(Ns, out var own) ? own.Kids : []).Select(Short))}");
        var revoked = new HashSet<string>(set.Spec.RevokedKeyIds ?? [], StringComparer.Ordinal);
        ObserveCopies(revoked);
        ObserveSigning(set, revoked);

        var signing = world.Api.Stored<V1Secret>(Ns, $"{Name}-signing")?.Data;
        foreach (var (ns, copy) in _copies.Where(c => c.Value.Exists))
        {
            // A revoked key leaves the JWKS even while the signing Secret cannot be written (verifiers must stop trusting it).
            if (_signing is { } kid && !copy.Dropped && !revoked.Contains(kid))
                Assert.True(copy.Kids.Contains(kid), Explain($"invariant 1: {Short(kid)} signs but the JWKS copy in {ns} does not hold it"));
            if (!refused.Contains($"copy:{ns}"))
                Assert.True(!copy.Kids.Any(revoked.Contains), Explain($"invariant 5: a revoked kid is in the JWKS copy in {ns}"));
        }

        if (!refused.Contains("signing"))
        {
            foreach (var field in new[] { SigningSecretPublisher.KidKey, SigningSecretPublisher.NextKidKey })
                Assert.True(Field(signing, field) is not { } kid || !revoked.Contains(kid), Explain($"invariant 5: the signing Secret's {field} is revoked"));
        }

        if (_signing is null || !revoked.Contains(_signing))
            VerifyToken(signing);
        var keys = set.Status?.Keys ?? [];
        Assert.True(keys.Select(k => k.Generation).Distinct().Count() == keys.Count, Explain("invariant 6: a generation twice"));
        Assert.True(keys.Count(k => k.State == "Active") <= 1, Explain("two Active keys"));
        foreach (var gone in keys.Where(k => k.State is "Retired" or "Revoked"))
            Assert.True(!_copies.Values.Any(c => c.Exists && c.Kids.Contains(gone.Kid)), Explain($"invariant 11: {Short(gone.Kid)} is {gone.State} in status but still published"));
        if (!failed && refused.Count == 0)
            Assert.True(set.Status?.ActiveKeyId == _signing, Explain($"invariant 11: status names {Short(set.Status?.ActiveKeyId)} Active, the signing Secret holds {Short(_signing)}"));
    }

    /// <summary>
    /// While someone else's Secret takes the key store's name, it is byte-for-byte what its owner wrote (never
    /// read as the set's keys, never written), no key signs, and a reconcile that nothing else stopped holds
    /// the set at NameConflict.
    /// </summary>
    private void ObserveKeyStoreName(IReadOnlyList<string> refused, string? held)
    {
        if (_foreign is null)
            return;
        var stored = world.Api.Stored<V1Secret>(Ns, KubernetesKeyStore.SecretName(Name));
        Assert.True(stored is not null && KubernetesJson.Serialize(stored) == _foreign, Explain($"the Secret someone else keeps at {KubernetesKeyStore.SecretName(Name)} was changed or deleted by the operator"));
        Assert.True(world.Signing().Kid is null, Explain("a key signs while the key store's name is taken (the set has no stored key)"));
        if (held == Reasons.NameConflict)
            HeldOnNameConflict++;
        else if (refused.Count == 0 && InvalidOverlap is null)
            Assert.Fail(Explain($"the key store's name is taken but the reconcile ended {held ?? "without a hold"}, not held at NameConflict"));
    }

    private void ObserveCopies(HashSet<string> revoked)
    {
        foreach (var ns in Namespaces)
        {
            var cm = world.Api.Stored<V1ConfigMap>(ns, $"{Name}-jwks");
            var copy = _copies.TryGetValue(ns, out var seen) ? seen : _copies[ns] = new CopyView();
            if (cm is null)
            {
                Assert.True(ns != Ns || !copy.Exists, Explain("the JWKS ConfigMap in the set's own namespace was deleted"));
                (copy.Exists, copy.Dropped, copy.ResourceVersion, copy.Json) = (false, false, null, null);
                copy.Kids.Clear();
                copy.ArrivedAt.Clear();
                continue;
            }

            if (cm.Metadata.ResourceVersion == copy.ResourceVersion)
                continue;
            var json = cm.Data[JwksPublisher.JwksKey];
            var kids = JwksDocument.Parse(json).Keys.Select(k => k.Kid).ToHashSet(StringComparer.Ordinal);
            foreach (var gone in copy.Kids.Except(kids).ToList())
            {
                copy.ArrivedAt.Remove(gone);
                Assert.True(revoked.Contains(gone) || !_everSigned.Contains(gone) || (_stoppedSigning.TryGetValue(gone, out var stopped) && Outlived(stopped)),
                    Explain($"invariant 3: {Short(gone)} left the JWKS copy in {ns} " + (_stoppedSigning.TryGetValue(gone, out var s)
                        ? $"{Real - s.At} after it stopped signing (overlap {s.Overlap}, tokens {s.Tokens})" : "while it still signs")));
            }

            foreach (var added in kids.Except(copy.Kids))
            {
                // A kid counts as published from the first copy that held it; in a copy that already existed,
                // verifiers there learn it only from this version on.
                _firstPublished.TryAdd(added, Real);
                if (copy.Exists)
                    copy.ArrivedAt[added] = Real;
            }

            (copy.Exists, copy.Dropped, copy.ResourceVersion, copy.Json) = (true, ns != Ns && !Targeted().Contains(ns), cm.Metadata.ResourceVersion, json);
            copy.Kids.Clear();
            copy.Kids.UnionWith(kids);
        }
    }

    private void ObserveSigning(V1Alpha1SigningKeySet set, HashSet<string> revoked)
    {
        var kid = Field(world.Api.Stored<V1Secret>(Ns, $"{Name}-signing")?.Data, SigningSecretPublisher.KidKey);
        if (kid == _signing)
            return;
        if (kid is not null)
        {
            var prePublish = GoDuration.Parse(set.Spec.Rotation.PrePublish!);
            // A forced activation (the annotation, or the active key revoked) says so in an Event; a
            // rollback goes back to a key that signed before. Every other activation, the first included, waits.
            var forced = _forced.Contains(kid) || (_lastSigner is { } last && revoked.Contains(last));
            var rollback = _everSigned.Contains(kid);
            if (!forced)
            {
                Assert.True(_firstPublished.TryGetValue(kid, out var first) && Real - first >= prePublish,
                    Explain($"invariant 2: {Short(kid)} signs {(_firstPublished.TryGetValue(kid, out var f) ? Real - f : TimeSpan.Zero)} after it was first published (prePublish {prePublish})"));
                foreach (var (ns, copy) in _copies.Where(c => c.Value.Exists && c.Value.ArrivedAt.ContainsKey(kid)))
                    Assert.True(Real - copy.ArrivedAt[kid] >= prePublish, Explain($"invariant 2: {Short(kid)} signs {Real - copy.ArrivedAt[kid]} after it reached the copy in {ns} (prePublish {prePublish})"));
            }

            (Activations, Forced, RolledBack) = (Activations + 1, Forced + (forced ? 1 : 0), RolledBack + (rollback && !forced ? 1 : 0));
            _everSigned.Add(kid);
            _stoppedSigning.Remove(kid);
            _lastSigner = kid;
        }

        if (_signing is { } previous)
        {
            var tokens = GoDuration.Parse(set.Spec.MaxTokenLifetime!) + GoDuration.Parse(set.Spec.ClockSkew!);
            _stoppedSigning[previous] = (Real, _overlap, tokens);
        }

        Log($"  signing: {Short(_signing)} -> {Short(kid)}");
        _signing = kid;
    }

    /// <summary>A key that stopped signing may leave once its last tokens expired and its overlap (the shorter of then and now) ran.</summary>
    private bool Outlived((TimeSpan At, TimeSpan Overlap, TimeSpan Tokens) stopped) =>
        Real - stopped.At >= stopped.Tokens && Real - stopped.At >= (stopped.Overlap < _overlap ? stopped.Overlap : _overlap);

    /// <summary>A token as a signer makes it from the signing Secret verifies against every copy verifiers read.</summary>
    private void VerifyToken(IDictionary<string, byte[]>? signing)
    {
        if (Field(signing, SigningSecretPublisher.KidKey) is not { } kid || Field(signing, SigningSecretPublisher.PrivateKeyKey) is not { } pem)
            return;
        var alg = Field(signing, SigningSecretPublisher.AlgKey)!;
        var readers = _copies.Where(c => c.Value is { Exists: true, Dropped: false }).ToList();
        var state = kid + string.Join(",", readers.Select(r => r.Value.ResourceVersion));
        if (state == _verified)
            return;
        var now = clock.GetUtcNow().UtcDateTime;
        var token = TokenSigner.Sign(pem, kid, alg, "https://walk", "walk", now, TimeSpan.FromMinutes(5));
        foreach (var (ns, copy) in readers)
        {
            var result = TokenSigner.VerifyAsync(token, copy.Json!, alg, "https://walk", "walk", now).GetAwaiter().GetResult();
            Assert.True(result.IsValid, Explain($"invariant 1: a token signed with {Short(kid)} does not verify against the JWKS in {ns}: {result.Exception?.Message}"));
            TokensVerified++;
        }

        _verified = state;
    }

    private IReadOnlyList<string> Targeted() => [.. world.Set().Spec.Jwks?.TargetNamespaces ?? []];

    private static string? Field(IDictionary<string, byte[]>? data, string key) =>
        data is not null && data.TryGetValue(key, out var value) ? Encoding.UTF8.GetString(value) : null;

    public string Explain(string what) => what + "\nsteps (last 80):\n" + string.Join("\n", _log.TakeLast(80));

    public static string Short(string? kid) => kid is null ? "none" : kid[..6];

    /// <summary>One JWKS copy as the verifiers of its namespace read it.</summary>
    private sealed class CopyView
    {
        public bool Exists { get; set; }

        /// <summary>The spec no longer names it: nothing promises its verifiers anything until it is written again.</summary>
        public bool Dropped { get; set; }

        public string? ResourceVersion { get; set; }

        public string? Json { get; set; }

        public HashSet<string> Kids { get; } = new(StringComparer.Ordinal);

        /// <summary>When (true time) each kid reached this copy, for kids that arrived after the copy was created.</summary>
        public Dictionary<string, TimeSpan> ArrivedAt { get; } = new(StringComparer.Ordinal);
    }
}
