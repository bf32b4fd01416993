using KeyRotator.Operator.Configuration;
using KeyRotator.Operator.Hosting;
using KeyRotator.Operator.Observability;
using Microsoft.Extensions.Time.Testing;

namespace KeyRotator.Operator.Tests.Observability;

/// <summary>Per-set state stays bounded however many callers report.</summary>
public sealed class PropagationTrackerTests
{
    [Fact]
    public void A_set_holds_at_most_the_cap_of_callers_and_makes_room_as_silent_ones_drop_out()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var tracker = new PropagationTracker(time, Microsoft.Extensions.Options.Options.Create(new OperatorOptions()));

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
    public void One_identity_naming_ever_new_instances_holds_at_most_its_share_and_a_real_stale_verifier_is_still_counted()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var tracker = new PropagationTracker(time, Microsoft.Extensions.Options.Options.Create(new OperatorOptions()));
        tracker.Published("current", ["kid-new"]);

        for (var i = 0; i < PropagationTracker.MaxCallersPerSet + 500; i++)
            tracker.ObserveVerifier("ns", "auth", $"system:serviceaccount:ns:gateway/made-up-{i}", "current");
        Assert.True(tracker.ObserveVerifier("ns", "auth", "system:serviceaccount:ns:api/api-0", "stale"));

        var status = tracker.Evaluate("ns", "auth", "kid-old", "kid-new")!;
        Assert.Equal(PropagationTracker.MaxCallersPerIdentity + 1, status.Verifiers);
        Assert.Equal(["system:serviceaccount:ns:api/api-0"], status.StaleVerifiers);
        // The identity's instances already held are still heard.
        Assert.False(tracker.ObserveVerifier("ns", "auth", "system:serviceaccount:ns:gateway/made-up-0", "current"));
    }
}
