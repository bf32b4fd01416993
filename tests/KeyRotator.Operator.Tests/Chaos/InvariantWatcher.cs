using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using k8s;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Model.Time;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Publishing;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;
using static KeyRotator.Operator.Tests.Chaos.ChaosPolicy;

namespace KeyRotator.Operator.Tests.Chaos;

/// <summary>The policy of the sets that the chaos and outage runs rotate every 20 s, and that <see cref="InvariantWatcher"/> checks against.</summary>
internal static class ChaosPolicy
{
    public static readonly TimeSpan PrePublish = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan Overlap = TimeSpan.FromSeconds(8);
    public static readonly TimeSpan MaxTokenLifetime = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan ClockSkew = TimeSpan.FromSeconds(1);

    public static SigningKeySetBuilder Set(string name, string ns, string algorithm, int? rsaKeySize = null) =>
        SigningKeySetBuilder.Named(name, ns)
            .WithAlgorithm(algorithm, rsaKeySize)
            .WithSpec(s => s with
            {
                MaxTokenLifetime = GoDuration.Format(MaxTokenLifetime),
                ClockSkew = GoDuration.Format(ClockSkew),
                Rotation = new RotationSpec { Interval = "20s", PrePublish = GoDuration.Format(PrePublish), Overlap = GoDuration.Format(Overlap) },
            });
}

/// <summary>
/// Polls everything a user can see of the sets and checks the invariants on each poll. Each check
/// is sound against polling: it uses the time a request was sent or answered, whichever makes a
/// violation certain rather than possible.
/// </summary>
internal sealed class InvariantWatcher(IKubernetes admin, string ns, string target, IReadOnlyList<string> names)
{
    private const string Issuer = "https://chaos.example";
    private const string Audience = "chaos";
    private readonly Dictionary<string, SetHistory> _sets = names.ToDictionary(n => n, n => new SetHistory(n));
    private readonly ConcurrentQueue<string> _violations = new();

    public ConcurrentQueue<string> Violations => _violations;

    public int Polls { get; private set; }

    public int TokensVerified { get; private set; }

    public IReadOnlyList<long> GenerationsOf(string name) => [.. _sets[name].KidOfGeneration.Keys.Order()];

    public int SigningKidsSeen(string name) => _sets[name].FirstSignedAt.Count;

    public string Report() => string.Join('\n', _sets.Values.Select(s =>
        $"{s.Name}: generations {string.Join(",", s.KidOfGeneration.Keys.Order())}, signing kids {s.FirstSignedAt.Count}"));

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await PollAsync(cancellationToken);
                Polls++;
                await Task.Delay(200, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is k8s.Autorest.HttpOperationException or HttpRequestException)
            {
                _violations.Enqueue($"{DateTimeOffset.UtcNow:HH:mm:ss.fff} the watcher could not read: {e.Message}");
            }
        }
    }

    private void Violation(string set, DateTimeOffset at, string what) => _violations.Enqueue($"{at:HH:mm:ss.fff} {set}: {what}");

    private async Task PollAsync(CancellationToken ct)
    {
        // Signing Secrets (and key stores) first, then the JWKS, then the sets: a key leaves the JWKS only
        // long after it stops signing, and is in the JWKS long before it signs, so this order makes
        // "the signing key is published" a certainty to check rather than a race.
        var sent = DateTimeOffset.UtcNow;
        var secrets = (await admin.CoreV1.ListNamespacedSecretAsync(ns, labelSelector: Labels.ManagedBySelector, cancellationToken: ct)).Items;
        var jwksSent = DateTimeOffset.UtcNow;
        var configMaps = (await admin.CoreV1.ListNamespacedConfigMapAsync(ns, labelSelector: Labels.ManagedBySelector, cancellationToken: ct)).Items
            .Concat((await admin.CoreV1.ListNamespacedConfigMapAsync(target, labelSelector: Labels.ManagedBySelector, cancellationToken: ct)).Items)
            .ToList();
        var jwksAt = DateTimeOffset.UtcNow;
        var sets = (await new SigningKeySetClient(admin).ListAsync(ns, ct)).Items;

        foreach (var history in _sets.Values)
        {
            var name = history.Name;
            var signing = secrets.FirstOrDefault(s => s.Metadata.Name == $"{name}-signing");
            string? Signing(string key) => signing?.Data?.TryGetValue(key, out var v) == true ? Encoding.UTF8.GetString(v) : null;
            var kid = Signing(SigningSecretPublisher.KidKey);
            var views = configMaps
                .Where(c => c.Metadata.Name == $"{name}-jwks")
                .Select(c => (Where: c.Metadata.NamespaceProperty, Json: c.Data?.TryGetValue(JwksPublisher.JwksKey, out var json) == true ? json : null))
                .Where(v => v.Json is not null)
                .ToDictionary(v => v.Where, v => new JwksView(jwksAt, v.Json!, [.. JwksDocument.Parse(v.Json!).Keys.Select(k => k.Kid)]));
            var set = sets.FirstOrDefault(s => s.Metadata.Name == name);
            if (kid is null)
                continue; // not yet made

            var expectedViews = name == "copy" ? 2 : 1;
            if (views.Count != expectedViews)
                Violation(name, jwksAt, $"a key signs but {expectedViews - views.Count} JWKS ConfigMap(s) are missing ({string.Join(",", views.Keys)})");

            // Invariant 1: the key that signs is in every JWKS copy.
            foreach (var (where, view) in views)
            {
                if (!view.Kids.Contains(kid))
                    Violation(name, jwksAt, $"signing kid {kid} is not in the JWKS in {where} ({string.Join(",", view.Kids)})");
            }

            // Invariant 11: the status's active key is in every JWKS copy.
            if (set?.Status?.ActiveKeyId is { } active)
            {
                foreach (var (where, view) in views)
                {
                    if (!view.Kids.Contains(active))
                        Violation(name, jwksAt, $"status.activeKeyId {active} is not in the JWKS in {where}");
                }
            }

            // Invariant 2 and the acceptance's token check: a key that starts signing was in the JWKS a
            // watcher held prePublish − 1 s earlier, and a token signed with it verifies against that JWKS.
            if (!history.FirstSignedAt.ContainsKey(kid))
            {
                history.FirstSignedAt[kid] = sent;
                if (history.FirstSignedAt.Count > 1)
                {
                    foreach (var where in views.Keys)
                    {
                        var earlier = history.ViewAt(where, sent - (PrePublish - TimeSpan.FromSeconds(1)));
                        if (earlier is null)
                        {
                            Violation(name, sent, $"no JWKS in {where} was held {PrePublish - TimeSpan.FromSeconds(1)} before kid {kid} signed");
                            continue;
                        }

                        if (!earlier.Kids.Contains(kid))
                            Violation(name, sent, $"kid {kid} signs but was not in the JWKS in {where} held at {earlier.At:HH:mm:ss.fff} ({string.Join(",", earlier.Kids)})");
                        else if (Signing(SigningSecretPublisher.PrivateKeyKey) is { } pem)
                            await VerifyAsync(name, kid, pem, Signing(SigningSecretPublisher.AlgKey)!, earlier, sent);
                    }
                }
            }

            // Invariant 3, as a verifier sees it: a token signed while the signing Secret held a key
            // verifies for its whole lifetime (maxTokenLifetime + clockSkew) against every JWKS copy.
            history.Signed.Add((kid, sent));
            history.Signed.RemoveAll(s => s.At < jwksAt - MaxTokenLifetime - ClockSkew - TimeSpan.FromSeconds(5));
            foreach (var (where, view) in views)
            {
                foreach (var (signedKid, at) in history.Signed.Where(s => s.At >= jwksSent - MaxTokenLifetime - ClockSkew))
                {
                    if (!view.Kids.Contains(signedKid))
                        Violation(name, jwksAt, $"kid {signedKid}, signing at {at:HH:mm:ss.fff}, is gone from the JWKS in {where} before its tokens expire");
                }

                // Invariant 3, overlap: a key that stopped signing stays at least `overlap`; and once gone, it never returns.
                if (history.Views.TryGetValue(where, out var previous) && previous.Count > 0)
                {
                    foreach (var gone in previous[^1].Kids.Except(view.Kids))
                    {
                        history.Removed.Add((where, gone));
                        if (history.LastSignedAt.TryGetValue(gone, out var lastSigned) && jwksAt - lastSigned < Overlap)
                            Violation(name, jwksAt, $"kid {gone} left the JWKS in {where} within {jwksAt - lastSigned} of last signing (overlap {Overlap})");
                    }

                    foreach (var back in view.Kids.Where(k => history.Removed.Contains((where, k))))
                        Violation(name, jwksAt, $"kid {back} was published again in {where} after it had left the JWKS");
                }

                history.Record(where, view);
            }

            history.LastSignedAt[kid] = sent;

            // Invariant 6: one kid per generation, ever; no generation twice in status or the store; signing never goes back.
            foreach (var key in set?.Status?.Keys ?? [])
                history.Bind(key.Generation, key.Kid, jwksAt, Violation);
            if (set?.Status?.Keys is { } keys && keys.Select(k => k.Generation).Distinct().Count() != keys.Count)
                Violation(name, jwksAt, $"a generation twice in status: {string.Join(",", keys.Select(k => $"{k.Generation}:{k.Kid}"))}");

            var store = secrets.FirstOrDefault(s => s.Metadata.Name == $"{name}-keyrotator-keys");
            if (store is not null)
            {
                var entries = store.Data.Values.Select(v =>
                {
                    using var json = JsonDocument.Parse(Encoding.UTF8.GetString(v));
                    return (Generation: json.RootElement.GetProperty("generation").GetInt64(), Kid: json.RootElement.GetProperty("kid").GetString()!);
                }).ToList();
                if (entries.Select(e => e.Generation).Distinct().Count() != entries.Count)
                    Violation(name, sent, $"a generation twice in the key store: {string.Join(",", entries.Select(e => $"{e.Generation}:{e.Kid}"))}");
                foreach (var (generation, storedKid) in entries)
                    history.Bind(generation, storedKid, sent, Violation);

                // No key lost: the signing key is in the store of the same (consistent) list.
                if (!entries.Any(e => e.Kid == kid))
                    Violation(name, sent, $"signing kid {kid} is not in the key store");
            }

            if (history.GenerationOfKid.TryGetValue(kid, out var signingGeneration))
            {
                if (signingGeneration < history.HighestSigningGeneration)
                    Violation(name, sent, $"signing went back from generation {history.HighestSigningGeneration} to {signingGeneration}");
                history.HighestSigningGeneration = Math.Max(history.HighestSigningGeneration, signingGeneration);
            }
        }
    }

    private async Task VerifyAsync(string name, string kid, string pem, string alg, JwksView jwks, DateTimeOffset at)
    {
        var now = DateTime.UtcNow;
        var token = TokenSigner.Sign(pem, kid, alg, Issuer, Audience, now, MaxTokenLifetime);
        var result = await TokenSigner.VerifyAsync(token, jwks.Json, alg, Issuer, Audience, now);
        if (result.IsValid)
            TokensVerified++;
        else
            Violation(name, at, $"a token signed with {kid} does not verify against the JWKS held at {jwks.At:HH:mm:ss.fff}: {result.Exception?.Message}");
    }
}

internal sealed record JwksView(DateTimeOffset At, string Json, HashSet<string> Kids);

internal sealed class SetHistory(string name)
{
    public string Name { get; } = name;

    public Dictionary<string, List<JwksView>> Views { get; } = [];

    public Dictionary<string, DateTimeOffset> FirstSignedAt { get; } = [];

    public Dictionary<string, DateTimeOffset> LastSignedAt { get; } = [];

    public List<(string Kid, DateTimeOffset At)> Signed { get; } = [];

    public HashSet<(string Where, string Kid)> Removed { get; } = [];

    public Dictionary<long, string> KidOfGeneration { get; } = [];

    public Dictionary<string, long> GenerationOfKid { get; } = [];

    public long HighestSigningGeneration { get; set; }

    public void Record(string where, JwksView view)
    {
        if (!Views.TryGetValue(where, out var list))
            Views[where] = list = [];
        list.Add(view);
    }

    /// <summary>The last JWKS read from <paramref name="where"/> that had been answered by <paramref name="at"/>.</summary>
    public JwksView? ViewAt(string where, DateTimeOffset at) =>
        Views.TryGetValue(where, out var list) ? list.LastOrDefault(v => v.At <= at) : null;

    public void Bind(long generation, string kid, DateTimeOffset at, Action<string, DateTimeOffset, string> violation)
    {
        if (KidOfGeneration.TryGetValue(generation, out var known) && known != kid)
            violation(Name, at, $"generation {generation.ToString(CultureInfo.InvariantCulture)} is {kid} now and was {known}");
        if (GenerationOfKid.TryGetValue(kid, out var knownGeneration) && knownGeneration != generation)
            violation(Name, at, $"kid {kid} is generation {generation} now and was {knownGeneration}");
        KidOfGeneration.TryAdd(generation, kid);
        GenerationOfKid.TryAdd(kid, generation);
    }
}
