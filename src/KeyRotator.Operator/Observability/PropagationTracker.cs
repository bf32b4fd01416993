using System.Collections.Concurrent;
using System.Text.Json;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Configuration;
using KeyRotator.Operator.Runtime;
using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.Observability;

/// <summary>
/// What each set's verifiers and signers hold, as they say in heartbeats and failure reports (and as
/// JWKS fetches over HTTP show): per caller identity, the JWKS content hash a verifier holds or the kid
/// a signer signs with, and when it was last heard. Callers not heard within the window drop out.
/// Which kids a hash stands for is learnt per set, only from the JWKS documents the operator wrote for
/// that set (as it publishes them, and from the set's own ConfigMap found by the set's UID after a
/// restart), hashed here as verifiers hash them: nothing another namespace writes (a labelled ConfigMap,
/// a content-hash annotation) says what a set's verifiers hold.
/// </summary>
public sealed class PropagationTracker(TimeProvider time, IOptions<OperatorOptions> options) : IRemembersSets
{
    private const int StaleListLength = 10;

    /// <summary>How many of a set's own JWKS documents are remembered, newest kept: verifiers a few publications behind still count.</summary>
    public const int DocumentsPerSet = 16;

    /// <summary>
    /// The most callers a set holds at once, however many report: a caller that reports under ever new
    /// instance names, or a fleet larger than this, cannot grow the operator's memory without bound. A
    /// caller already held is always updated; a new one beyond the cap is not counted until others drop out.
    /// </summary>
    public const int MaxCallersPerSet = 2000;

    /// <summary>
    /// The longest caller identity held (a service account's user name, "/", the instance; the endpoints
    /// check each part, this bounds what any caller can make the tracker keep).
    /// </summary>
    public const int MaxIdentityLength = 1024;

    /// <summary>The longest value held: a JWKS content hash (64 hex digits) or a kid (at most 128 characters).</summary>
    public const int MaxValueLength = 128;

    /// <summary>
    /// The most of a set's callers one caller identity (the service account before the "/" of
    /// "account/instance") holds at once, however many instance names it uses: one identity allowed to
    /// report cannot fill the set's cap and crowd out the verifiers that are really there.
    /// </summary>
    public const int MaxCallersPerIdentity = MaxCallersPerSet / 10;

    private readonly ConcurrentDictionary<(string Ns, string Name), ConcurrentDictionary<(string Role, string Identity), Seen>> _sets = new();
    private readonly ConcurrentDictionary<(string Ns, string Name), Documents> _documents = new();

    public TimeSpan Window => options.Value.Reports.PropagationWindow;

    /// <summary>A verifier holds the JWKS with this content hash; true when that is news (new caller or another hash).</summary>
    public bool ObserveVerifier(string ns, string name, string identity, string hash) => Observe(ns, name, "verifier", identity, hash);

    /// <summary>A signer signs with this kid; true when that is news.</summary>
    public bool ObserveSigner(string ns, string name, string identity, string kid) => Observe(ns, name, "signer", identity, kid);

    /// <summary>
    /// The operator wrote this JWKS document for the set (or found it in the set's own ConfigMap, owned by the
    /// set's UID). Its content hash is computed here from the document, as verifiers compute it; the kids it
    /// holds count only for this set's verifiers. A document that does not parse teaches nothing.
    /// </summary>
    public void Published(string ns, string name, string jwksJson)
    {
        var documents = _documents.GetOrAdd((ns, name), _ => new Documents());
        if (documents.IsNewest(jwksJson))
            return;

        IReadOnlySet<string> kids;
        try
        {
            kids = JwksDocument.Parse(jwksJson).Keys.Select(k => k.Kid).ToHashSet(StringComparer.Ordinal);
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or KeyNotFoundException or ArgumentException)
        {
            return;
        }

        documents.Add(jwksJson, JwksDocument.ContentHashOf(jwksJson), kids);
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
        var published = _documents.TryGetValue((ns, name), out var documents) ? documents.Snapshot() : [];
        bool Holds(string hash, string? kid) => kid is not null && published.Any(d => d.Hash == hash && d.Kids.Contains(kid));
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

    public void Forget(SetKey set, string? uid)
    {
        _sets.TryRemove((set.Namespace, set.Name), out _);
        _documents.TryRemove((set.Namespace, set.Name), out _);
    }

    private bool Observe(string ns, string name, string role, string identity, string value)
    {
        if (identity.Length > MaxIdentityLength || value.Length > MaxValueLength)
            return false;
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

    /// <summary>One set's own JWKS documents by content hash, at most <see cref="DocumentsPerSet"/>, the oldest dropped first.</summary>
    private sealed class Documents
    {
        private readonly Lock _lock = new();
        private readonly List<(string Hash, IReadOnlySet<string> Kids)> _known = [];
        private string? _newest;

        public bool IsNewest(string json)
        {
            lock (_lock)
                return string.Equals(_newest, json, StringComparison.Ordinal);
        }

        public void Add(string json, string hash, IReadOnlySet<string> kids)
        {
            lock (_lock)
            {
                _newest = json;
                _known.RemoveAll(d => d.Hash == hash);
                _known.Add((hash, kids));
                if (_known.Count > DocumentsPerSet)
                    _known.RemoveRange(0, _known.Count - DocumentsPerSet);
            }
        }

        public (string Hash, IReadOnlySet<string> Kids)[] Snapshot()
        {
            lock (_lock)
                return [.. _known];
        }
    }
}
