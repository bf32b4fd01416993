using System.Collections.Concurrent;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Configuration;
using KeyRotator.Operator.Runtime;
using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.Observability;

/// <summary>
/// What each set's verifiers and signers hold, as they say in heartbeats and failure reports (and as
/// JWKS fetches over HTTP show): per caller identity, the JWKS content hash a verifier holds or the kid
/// a signer signs with, and when it was last heard. Callers not heard within the window drop out.
/// Which kids a hash stands for is learnt from the JWKS ConfigMaps this operator publishes.
/// </summary>
public sealed class PropagationTracker(TimeProvider time, IOptions<OperatorOptions> options) : IRemembersSets
{
    private const int StaleListLength = 10;
    private const int KnownHashes = 4096;

    /// <summary>
    /// The most callers a set holds at once, however many report: a caller that reports under ever new
    /// instance names, or a fleet larger than this, cannot grow the operator's memory without bound. A
    /// caller already held is always updated; a new one beyond the cap is not counted until others drop out.
    /// </summary>
    public const int MaxCallersPerSet = 2000;

    /// <summary>
    /// The most of a set's callers one caller identity (the service account before the "/" of
    /// "account/instance") holds at once, however many instance names it uses: one identity allowed to
    /// report cannot fill the set's cap and crowd out the verifiers that are really there.
    /// </summary>
    public const int MaxCallersPerIdentity = MaxCallersPerSet / 10;

    private readonly ConcurrentDictionary<(string Ns, string Name), ConcurrentDictionary<(string Role, string Identity), Seen>> _sets = new();
    private readonly ConcurrentDictionary<string, (IReadOnlySet<string> Kids, DateTimeOffset Learnt)> _hashes = new(StringComparer.Ordinal);

    public TimeSpan Window => options.Value.Reports.PropagationWindow;

    /// <summary>A verifier holds the JWKS with this content hash; true when that is news (new caller or another hash).</summary>
    public bool ObserveVerifier(string ns, string name, string identity, string hash) => Observe(ns, name, "verifier", identity, hash);

    /// <summary>A signer signs with this kid; true when that is news.</summary>
    public bool ObserveSigner(string ns, string name, string identity, string kid) => Observe(ns, name, "signer", identity, kid);

    /// <summary>The operator published a JWKS with this content hash holding these kids.</summary>
    public void Published(string hash, IReadOnlyCollection<string> kids)
    {
        var now = time.GetUtcNow();
        _hashes[hash] = (kids.ToHashSet(StringComparer.Ordinal), now);
        if (_hashes.Count > KnownHashes)
        {
            foreach (var oldest in _hashes.OrderBy(h => h.Value.Learnt).Take(_hashes.Count - KnownHashes).ToList())
                _hashes.TryRemove(oldest.Key, out _);
        }
    }

    /// <summary>Status for a set whose active and pending keys are these; null when nobody has reported within the window.</summary>
    public PropagationStatus? Evaluate(string ns, string name, string? activeKid, string? nextKid)
    {
        if (!_sets.TryGetValue((ns, name), out var seen))
            return null;
        var cutoff = time.GetUtcNow() - Window;
        foreach (var (key, entry) in seen)
        {
            if (entry.At < cutoff)
                seen.TryRemove(key, out _);
        }

        if (seen.IsEmpty)
            return null;
        var verifiers = seen.Where(s => s.Key.Role == "verifier").OrderBy(s => s.Key.Identity, StringComparer.Ordinal).ToList();
        var signers = seen.Where(s => s.Key.Role == "signer").OrderBy(s => s.Key.Identity, StringComparer.Ordinal).ToList();
        bool Holds(string hash, string? kid) => kid is not null && _hashes.TryGetValue(hash, out var known) && known.Kids.Contains(kid);
        var wanted = nextKid ?? activeKid;
        var staleVerifiers = verifiers.Where(v => !Holds(v.Value.Value, wanted)).Select(v => v.Key.Identity).Take(StaleListLength).ToList();
        var staleSigners = signers.Where(s => s.Value.Value != activeKid).Select(s => s.Key.Identity).Take(StaleListLength).ToList();
        return new PropagationStatus
        {
            Verifiers = verifiers.Count,
            VerifiersWithActiveKey = verifiers.Count(v => Holds(v.Value.Value, activeKid)),
            VerifiersWithNextKey = nextKid is null ? null : verifiers.Count(v => Holds(v.Value.Value, nextKid)),
            Signers = signers.Count,
            SignersOnActiveKey = signers.Count(s => s.Value.Value == activeKid),
            StaleVerifiers = staleVerifiers.Count == 0 ? null : staleVerifiers,
            StaleSigners = staleSigners.Count == 0 ? null : staleSigners,
        };
    }

    /// <summary>When the next caller of this set drops out of the window (a reason to look at the set again).</summary>
    public DateTimeOffset? NextExpiry(string ns, string name) =>
        _sets.TryGetValue((ns, name), out var seen) && !seen.IsEmpty ? seen.Values.Min(s => s.At) + Window : null;

    public void Forget(SetKey set, string? uid) => _sets.TryRemove((set.Namespace, set.Name), out _);

    private bool Observe(string ns, string name, string role, string identity, string value)
    {
        var seen = _sets.GetOrAdd((ns, name), _ => new ConcurrentDictionary<(string, string), Seen>());
        var now = time.GetUtcNow();
        if (seen.Count >= MaxCallersPerSet && !seen.ContainsKey((role, identity)))
        {
            // Make room from callers that have fallen silent; if none have, the newcomer is not counted.
            foreach (var (key, entry) in seen)
            {
                if (entry.At < now - Window)
                    seen.TryRemove(key, out _);
            }

            if (seen.Count >= MaxCallersPerSet)
                return false;
        }

        if (!seen.ContainsKey((role, identity)))
        {
            // A newcomer is admitted under the set's lock, so that concurrent ones cannot pass the identity's cap together.
            var account = identity.IndexOf('/', StringComparison.Ordinal) is var slash and >= 0 ? identity[..(slash + 1)] : identity + "/";
            lock (seen)
            {
                if (!seen.ContainsKey((role, identity)))
                {
                    if (seen.Count(s => s.Key.Identity.StartsWith(account, StringComparison.Ordinal) && s.Value.At >= now - Window) >= MaxCallersPerIdentity)
                        return false;
                    if (seen.TryAdd((role, identity), new Seen(value, now)))
                        return true;
                }
            }
        }

        var news = true;
        seen.AddOrUpdate((role, identity), _ => new Seen(value, now), (_, old) =>
        {
            news = old.Value != value || old.At < now - Window;
            return new Seen(value, now);
        });
        return news;
    }

    private sealed record Seen(string Value, DateTimeOffset At);
}
