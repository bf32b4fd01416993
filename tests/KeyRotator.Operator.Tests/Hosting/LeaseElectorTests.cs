using k8s;
using k8s.Models;
using KeyRotator.Operator.Configuration;
using KeyRotator.Operator.Hosting;
using KeyRotator.Testing;
using Microsoft.Extensions.Time.Testing;

namespace KeyRotator.Operator.Tests.Hosting;

/// <summary>
/// Who may hold the Lease and when, decided by the elector on each replica's own clock (a FakeTimeProvider
/// each, set apart by years where it matters) against the real API server, whose resourceVersions and
/// conflicts the elector relies on. The shipped timings: a 15 s lease, a 10 s renew deadline.
/// </summary>
public sealed class LeaseElectorTests(KubernetesEnvironment env)
{
    private const string LeaseName = "keyrotator-leader";
    private static readonly LeaderElectionOptions Timings = new();
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(100);

    [Fact]
    public async Task A_standby_takes_over_only_once_the_lease_went_unrenewed_for_its_duration_on_the_standbys_own_clock()
    {
        var (ns, ct) = await NamespaceAsync();
        // The holder's clock is decades behind: by the standby's clock its renewTime ran out long ago.
        var holderClock = new FakeTimeProvider(new DateTimeOffset(2001, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var standbyClock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var holder = Elector(env.Admin, ns, "replica-a", holderClock);
        var standby = Elector(env.Admin, ns, "replica-b", standbyClock);

        Assert.True(await holder.TryAcquireOrRenewAsync(ct), "the first replica creates the Lease");
        Assert.False(await standby.TryAcquireOrRenewAsync(ct), "a Lease seen for the first time is not taken, whatever its renewTime says");
        standbyClock.Advance(Timings.LeaseDuration - Tick);
        Assert.False(await standby.TryAcquireOrRenewAsync(ct), "taken before the lease ran out on the standby's clock");

        standbyClock.Advance(Tick);
        Assert.True(await standby.TryAcquireOrRenewAsync(ct));
        var lease = await LeaseAsync(ns, ct);
        Assert.Equal("replica-b", lease.Spec.HolderIdentity);
        Assert.Equal(1, lease.Spec.LeaseTransitions);
        Assert.Equal(standbyClock.GetUtcNow().UtcDateTime, lease.Spec.AcquireTime!.Value, TimeSpan.FromMilliseconds(1));

        // The old holder, back, renews nothing and knows it does not lead.
        Assert.False(await holder.TryAcquireOrRenewAsync(ct));
        Assert.False(holder.IsLeader);
        Assert.Equal("replica-b", holder.ObservedHolder);
    }

    [Fact]
    public async Task Each_renewal_the_standby_sees_starts_its_wait_afresh()
    {
        var (ns, ct) = await NamespaceAsync();
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var holder = Elector(env.Admin, ns, "replica-a", clock);
        var standby = Elector(env.Admin, ns, "replica-b", clock);

        Assert.True(await holder.TryAcquireOrRenewAsync(ct));
        Assert.False(await standby.TryAcquireOrRenewAsync(ct));
        clock.Advance(TimeSpan.FromSeconds(10));
        Assert.True(await holder.TryAcquireOrRenewAsync(ct), "the holder renews");
        Assert.False(await standby.TryAcquireOrRenewAsync(ct));

        // 20 s after the standby first saw the Lease, but only 10 s after it saw the renewal.
        clock.Advance(TimeSpan.FromSeconds(10));
        Assert.False(await standby.TryAcquireOrRenewAsync(ct), "taken although it was renewed less than a lease ago");
        clock.Advance(Timings.LeaseDuration - TimeSpan.FromSeconds(10));
        Assert.True(await standby.TryAcquireOrRenewAsync(ct));
    }

    [Fact]
    public async Task A_holder_that_cannot_renew_stops_leading_before_any_standby_may_take_over()
    {
        var (ns, ct) = await NamespaceAsync();
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var holder = Elector(env.Admin, ns, "replica-a", clock);
        var standby = Elector(env.Admin, ns, "replica-b", clock);
        Assert.True(await holder.TryAcquireOrRenewAsync(ct));
        Assert.False(await standby.TryAcquireOrRenewAsync(ct));
        Assert.Equal(Timings.RenewDeadline, holder.LeadershipLeft);

        // No renewal gets through: at the renew deadline the holder no longer leads, and the lease it last
        // renewed still has LeaseDuration - RenewDeadline to run, in which nobody may take it.
        clock.Advance(Timings.RenewDeadline - Tick);
        Assert.True(holder.IsLeader);
        clock.Advance(Tick);
        Assert.False(holder.IsLeader);
        Assert.Equal(TimeSpan.Zero, holder.LeadershipLeft);
        Assert.False(await standby.TryAcquireOrRenewAsync(ct), "taken while the old holder could still have been acting");

        clock.Advance(Timings.LeaseDuration - Timings.RenewDeadline);
        Assert.True(await standby.TryAcquireOrRenewAsync(ct));
    }

    [Fact]
    public async Task A_released_lease_is_taken_on_the_next_attempt_without_waiting_for_it_to_expire()
    {
        var (ns, ct) = await NamespaceAsync();
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var holder = Elector(env.Admin, ns, "replica-a", clock);
        var standby = Elector(env.Admin, ns, "replica-b", clock);
        Assert.True(await holder.TryAcquireOrRenewAsync(ct));
        Assert.False(await standby.TryAcquireOrRenewAsync(ct));

        Assert.True(await holder.ReleaseAsync(ct));
        Assert.False(holder.IsLeader);
        var released = await LeaseAsync(ns, ct);
        Assert.Null(released.Spec.HolderIdentity);

        Assert.True(await standby.TryAcquireOrRenewAsync(ct), "the standby waited although the Lease was handed over");
        var lease = await LeaseAsync(ns, ct);
        Assert.Equal("replica-b", lease.Spec.HolderIdentity);
        Assert.Equal(1, lease.Spec.LeaseTransitions);

        // Releasing a Lease that is someone else's changes nothing.
        Assert.False(await holder.ReleaseAsync(ct));
        Assert.Equal(lease.Metadata.ResourceVersion, (await LeaseAsync(ns, ct)).Metadata.ResourceVersion);
    }

    [Fact]
    public async Task A_replica_restarted_under_the_same_identity_renews_its_own_lease_at_once()
    {
        var (ns, ct) = await NamespaceAsync();
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        Assert.True(await Elector(env.Admin, ns, "replica-a", clock).TryAcquireOrRenewAsync(ct));
        var before = await LeaseAsync(ns, ct);

        clock.Advance(TimeSpan.FromSeconds(3));
        var restarted = Elector(env.Admin, ns, "replica-a", clock);
        Assert.True(await restarted.TryAcquireOrRenewAsync(ct));
        var after = await LeaseAsync(ns, ct);
        Assert.Equal(before.Spec.AcquireTime, after.Spec.AcquireTime);
        Assert.Equal(0, after.Spec.LeaseTransitions);
        Assert.True(after.Spec.RenewTime > before.Spec.RenewTime);
    }

    [Fact]
    public async Task A_takeover_that_meets_a_renewal_made_meanwhile_reads_again_and_leaves_the_holder_in_place()
    {
        var (ns, ct) = await NamespaceAsync();
        var holderClock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var standbyClock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var holder = Elector(env.Admin, ns, "replica-a", holderClock);
        Assert.True(await holder.TryAcquireOrRenewAsync(ct));

        // The standby's clock runs ahead: the lease looks expired to it. Its takeover is sent just after the
        // holder renewed, at the resourceVersion it read before: the API server answers 409.
        var renewFirst = new RenewBeforeFirstLeaseWrite(() =>
        {
            holderClock.Advance(TimeSpan.FromSeconds(1));
            return holder.TryAcquireOrRenewAsync(ct);
        });
        using var standbyClient = new k8s.Kubernetes(env.AdminConfig, renewFirst);
        var standby = Elector(standbyClient, ns, "replica-b", standbyClock);
        Assert.False(await standby.TryAcquireOrRenewAsync(ct));
        standbyClock.Advance(Timings.LeaseDuration);
        Assert.False(await standby.TryAcquireOrRenewAsync(ct), "took over a Lease renewed between its read and its write");

        Assert.True(renewFirst.Renewed);
        var lease = await LeaseAsync(ns, ct);
        Assert.Equal("replica-a", lease.Spec.HolderIdentity);
        Assert.Equal(0, lease.Spec.LeaseTransitions);
        Assert.True(holder.IsLeader);
        Assert.Equal("replica-a", standby.ObservedHolder);
    }

    private static LeaseElector Elector(IKubernetes client, string ns, string identity, TimeProvider clock) =>
        new(client, ns, LeaseName, identity, Timings, clock);

    private async Task<(string Namespace, CancellationToken Ct)> NamespaceAsync()
    {
        var ct = TestContext.Current.CancellationToken;
        return (await env.CreateNamespaceAsync("elector", ct), ct);
    }

    private Task<V1Lease> LeaseAsync(string ns, CancellationToken ct) =>
        env.Admin.CoordinationV1.ReadNamespacedLeaseAsync(LeaseName, ns, cancellationToken: ct);

    /// <summary>Lets the holder renew just before the first Lease write of the client it sits in goes out.</summary>
    private sealed class RenewBeforeFirstLeaseWrite(Func<Task<bool>> renew) : DelegatingHandler
    {
        public bool Renewed { get; private set; }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Method == HttpMethod.Put && !Renewed)
                Renewed = await renew();
            return await base.SendAsync(request, cancellationToken);
        }
    }
}
