using System.Security.Cryptography;
using KeyRotator.Client;
using KeyRotator.Model.Jose;
using KeyRotator.Operator.Configuration;
using KeyRotator.Operator.Observability;
using KeyRotator.Operator.Runtime;
using Microsoft.Extensions.Time.Testing;

namespace KeyRotator.Operator.Tests.Observability;

/// <summary>Per-set state stays bounded however many callers report, and what a hash holds is known per set only.</summary>
public sealed class PropagationTrackerTests
{
    [Fact]
    public void A_set_holds_at_most_the_cap_of_callers_and_makes_room_as_silent_ones_drop_out()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var tracker = Tracker(time);

        for (var i = 0; i < PropagationTracker.MaxCallersPerSet + 500; i++)
            tracker.ObserveVerifier("ns", "auth", $"sa-{i % 20}/instance-{i}", "hash");

        Assert.Equal(PropagationTracker.MaxCallersPerSet, tracker.Evaluate("ns", "auth", "kid", null)!.Verifiers);
        // A caller already held is still heard; a newcomer waits until others fall silent.
        Assert.False(tracker.ObserveVerifier("ns", "auth", "sa-0/instance-0", "hash"));
        Assert.False(tracker.ObserveVerifier("ns", "auth", "sa-late/late", "hash"));

        time.Advance(tracker.Window + TimeSpan.FromSeconds(1));
        Assert.True(tracker.ObserveVerifier("ns", "auth", "sa-late/late", "hash"));
        Assert.Equal(1, tracker.Evaluate("ns", "auth", "kid", null)!.Verifiers);
    }

    [Fact]
    public void A_verifier_holds_the_keys_of_the_document_whose_hash_it_computed_as_KeyRotator_Client_does()
    {
        var tracker = Tracker(new FakeTimeProvider(DateTimeOffset.UtcNow));
        var (active, next) = (NewKey(), NewKey());
        var before = Document(active);
        var after = Document(active, next);
        tracker.Published("team-a", "auth", before);
        tracker.Published("team-a", "auth", after);

        tracker.ObserveVerifier("team-a", "auth", "sa/reloaded", JwksSnapshot.Parse(after).ContentHash!);
        tracker.ObserveVerifier("team-a", "auth", "sa/stale", JwksSnapshot.HashOf(before));

        var status = tracker.Evaluate("team-a", "auth", active.Kid, next.Kid)!;
        Assert.Equal((2, 2, 1), (status.Verifiers, status.VerifiersWithActiveKey, status.VerifiersWithNextKey));
        Assert.Equal(["sa/stale"], status.StaleVerifiers);
    }

    [Fact]
    public void A_document_published_for_team_B_says_nothing_about_what_team_A_verifiers_hold()
    {
        var tracker = Tracker(new FakeTimeProvider(DateTimeOffset.UtcNow));
        var (active, next) = (NewKey(), NewKey());

        // Team B's set publishes a document holding team A's current keys (B can copy them from A's public JWKS).
        var teamB = Document(active, next);
        tracker.Published("team-b", "mirror", teamB);
        tracker.Published("team-a", "auth", Document(active));
        tracker.Published("team-a", "auth", Document(active, next, NewKey()));

        // A verifier of team A that holds B's document (or says it does) holds nothing team A published.
        tracker.ObserveVerifier("team-a", "auth", "sa/verifier", JwksSnapshot.HashOf(teamB));
        var status = tracker.Evaluate("team-a", "auth", active.Kid, next.Kid)!;
        Assert.Equal((1, 0, 0), (status.Verifiers, status.VerifiersWithActiveKey, status.VerifiersWithNextKey));
        Assert.Equal(["sa/verifier"], status.StaleVerifiers);
    }

    [Fact]
    public void A_set_remembers_its_newest_documents_only_and_forgets_them_with_the_set()
    {
        var tracker = Tracker(new FakeTimeProvider(DateTimeOffset.UtcNow));
        var key = NewKey();
        var documents = Enumerable.Range(0, PropagationTracker.DocumentsPerSet + 1)
            .Select(_ => Document(key, NewKey())).ToList();
        foreach (var document in documents)
            tracker.Published("ns", "auth", document);

        tracker.ObserveVerifier("ns", "auth", "sa/oldest", JwksSnapshot.HashOf(documents[0]));
        tracker.ObserveVerifier("ns", "auth", "sa/second", JwksSnapshot.HashOf(documents[1]));
        tracker.ObserveVerifier("ns", "auth", "sa/newest", JwksSnapshot.HashOf(documents[^1]));
        Assert.Equal(["sa/oldest"], tracker.Evaluate("ns", "auth", key.Kid, null)!.StaleVerifiers);

        // The set goes and comes back under its name: nothing it published before counts any more.
        tracker.Forget(new SetKey("ns", "auth"), "uid-1");
        tracker.ObserveVerifier("ns", "auth", "sa/newest", JwksSnapshot.HashOf(documents[^1]));
        Assert.Equal(0, tracker.Evaluate("ns", "auth", key.Kid, null)!.VerifiersWithActiveKey);
    }

    [Fact]
    public void A_document_that_is_not_a_JWKS_teaches_nothing()
    {
        var tracker = Tracker(new FakeTimeProvider(DateTimeOffset.UtcNow));
        const string edited = "{\"keys\": \"not a list\"}";
        tracker.Published("ns", "auth", edited);
        tracker.Published("ns", "auth", "not json");

        tracker.ObserveVerifier("ns", "auth", "sa/verifier", JwksDocument.ContentHashOf(edited));
        Assert.Equal(0, tracker.Evaluate("ns", "auth", "kid", null)!.VerifiersWithActiveKey);
    }

    [Fact]
    public void One_identity_naming_ever_new_instances_holds_at_most_its_share_and_a_real_stale_verifier_is_still_counted()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var tracker = new PropagationTracker(time, Microsoft.Extensions.Options.Options.Create(new OperatorOptions()));
        var next = NewKey();
        var document = Document(next);
        tracker.Published("ns", "auth", document);
        var current = JwksSnapshot.HashOf(document);

        for (var i = 0; i < PropagationTracker.MaxCallersPerSet + 500; i++)
            tracker.ObserveVerifier("ns", "auth", $"system:serviceaccount:ns:gateway/made-up-{i}", current);
        Assert.True(tracker.ObserveVerifier("ns", "auth", "system:serviceaccount:ns:api/api-0", "stale"));

        var status = tracker.Evaluate("ns", "auth", "kid-old", next.Kid)!;
        Assert.Equal(PropagationTracker.MaxCallersPerIdentity + 1, status.Verifiers);
        Assert.Equal(["system:serviceaccount:ns:api/api-0"], status.StaleVerifiers);
        // The identity's instances already held are still heard.
        Assert.False(tracker.ObserveVerifier("ns", "auth", "system:serviceaccount:ns:gateway/made-up-0", current));
    }

    private static PropagationTracker Tracker(TimeProvider time) =>
        new(time, Microsoft.Extensions.Options.Options.Create(new OperatorOptions()));

    private static Jwk NewKey()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return Jwk.FromEc(ec.ExportParameters(false), JwsAlgorithm.ES256);
    }

    private static string Document(params Jwk[] keys) => new JwksDocument(keys).ToJson();
}
