using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using KeyRotator.Operator.Configuration;

namespace KeyRotator.Operator.Hosting;

/// <summary>
/// One replica's side of a Lease election, on the three CoordinationV1 calls every client has (read,
/// create, replace at the resourceVersion read), deciding as client-go's leaderelection does:
/// <list type="bullet">
/// <item>A Lease held by another is taken over only once it has gone unchanged for its
/// <c>leaseDurationSeconds</c> by this replica's own clock, counted from when this replica first saw the
/// record as it stands (its resourceVersion). The holder's clock is never trusted: its renewTime is
/// written, not read.</item>
/// <item>The holder leads only while its last successful write was sent less than
/// <c>RenewDeadline</c> ago (<see cref="LeadershipLeft"/>), which is shorter than the lease: it stops
/// before another replica could take over, so two leaders never act at once.</item>
/// <item>A Lease whose holder is this identity is this replica's (a restart under the same name renews
/// it at once); one released (no holder) is free at once.</item>
/// </list>
/// Not thread-safe: one loop drives it (<see cref="LeaderElectionService"/>).
/// </summary>
public sealed class LeaseElector(IKubernetes kubernetes, string ns, string name, string identity, LeaderElectionOptions timings, TimeProvider time)
{
    private V1Lease? _observed;
    private long _observedAt;
    private long? _sentLastWriteAt;

    public string Identity => identity;

    /// <summary>The holder in the record as last read or written: null before the first answer, empty when released.</summary>
    public string? ObservedHolder => _observed is null ? null : _observed.Spec?.HolderIdentity ?? "";

    /// <summary>How long this replica may still lead without another successful renewal; zero when it does not lead.</summary>
    public TimeSpan LeadershipLeft => _sentLastWriteAt is { } sent && timings.RenewDeadline - time.GetElapsedTime(sent) is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero;

    public bool IsLeader => LeadershipLeft > TimeSpan.Zero;

    /// <summary>
    /// One attempt: creates the Lease when there is none, renews it when it is this replica's, takes it
    /// over when it is released or expired. True when this replica holds it now. A 409 means someone
    /// else wrote first: the Lease is read again at once, once. Any other API error escapes.
    /// </summary>
    public async Task<bool> TryAcquireOrRenewAsync(CancellationToken cancellationToken)
    {
        for (var read = 0; read < 2; read++)
        {
            if (await AttemptAsync(cancellationToken) is { } held)
                return held;
        }

        return false;
    }

    /// <summary>
    /// Hands the Lease over, when the API server still says it is this replica's: no holder, a one-second
    /// lease, so that the next candidate takes it on its next attempt instead of waiting out the lease
    /// (client-go's ReleaseOnCancel). Call only once this replica has stopped acting as leader.
    /// </summary>
    public async Task<bool> ReleaseAsync(CancellationToken cancellationToken)
    {
        _sentLastWriteAt = null;
        var current = await ReadAsync(cancellationToken);
        if (current?.Spec?.HolderIdentity != identity)
            return false;
        var now = MicroTime(time.GetUtcNow().UtcDateTime);
        current.Spec = new V1LeaseSpec
        {
            HolderIdentity = null,
            LeaseDurationSeconds = 1,
            AcquireTime = now,
            RenewTime = now,
            LeaseTransitions = current.Spec.LeaseTransitions,
        };
        try
        {
            Observe(await kubernetes.CoordinationV1.ReplaceNamespacedLeaseAsync(current, name, ns, cancellationToken: cancellationToken));
            return true;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            return false;
        }
    }

    /// <summary>Reads, decides and writes once; null when a write met a conflict and the Lease must be read again.</summary>
    private async Task<bool?> AttemptAsync(CancellationToken cancellationToken)
    {
        var current = await ReadAsync(cancellationToken);
        var sent = time.GetTimestamp();
        var now = MicroTime(time.GetUtcNow().UtcDateTime);
        if (current is null)
        {
            var lease = new V1Lease { Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns }, Spec = Record(now, now, transitions: 0) };
            return await WriteAsync(() => kubernetes.CoordinationV1.CreateNamespacedLeaseAsync(lease, ns, cancellationToken: cancellationToken), sent);
        }

        var spec = current.Spec ?? new V1LeaseSpec();
        var ours = spec.HolderIdentity == identity;
        if (!ours && !string.IsNullOrEmpty(spec.HolderIdentity) && time.GetElapsedTime(_observedAt) < DurationOf(spec))
        {
            _sentLastWriteAt = null;
            return false;
        }

        current.Spec = ours
            ? Record(spec.AcquireTime ?? now, now, spec.LeaseTransitions ?? 0)
            : Record(now, now, (spec.LeaseTransitions ?? 0) + 1);
        return await WriteAsync(() => kubernetes.CoordinationV1.ReplaceNamespacedLeaseAsync(current, name, ns, cancellationToken: cancellationToken), sent);
    }

    private async Task<bool?> WriteAsync(Func<Task<V1Lease>> write, long sent)
    {
        try
        {
            Observe(await write());
            _sentLastWriteAt = sent;
            return true;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            return null;
        }
    }

    private async Task<V1Lease?> ReadAsync(CancellationToken cancellationToken)
    {
        try
        {
            var lease = await kubernetes.CoordinationV1.ReadNamespacedLeaseAsync(name, ns, cancellationToken: cancellationToken);
            Observe(lease);
            return lease;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>Notes the record and, when it changed since last seen, the local time it was first seen so (taken after the answer: later is safer).</summary>
    private void Observe(V1Lease lease)
    {
        if (_observed is not null && _observed.Metadata?.ResourceVersion == lease.Metadata?.ResourceVersion)
            return;
        _observed = lease;
        _observedAt = time.GetTimestamp();
    }

    private V1LeaseSpec Record(DateTime acquired, DateTime renewed, int transitions) => new()
    {
        HolderIdentity = identity,
        LeaseDurationSeconds = (int)Math.Ceiling(timings.LeaseDuration.TotalSeconds),
        AcquireTime = MicroTime(acquired),
        RenewTime = MicroTime(renewed),
        LeaseTransitions = transitions,
    };

    /// <summary>
    /// A time the API server accepts as a MicroTime: KubernetesClient writes a whole second without the
    /// fraction the API server requires (also one it sent back), so a whole second is sent one tick later.
    /// </summary>
    private static DateTime MicroTime(DateTime at) => at.Ticks % TimeSpan.TicksPerSecond == 0 ? at.AddTicks(1) : at;

    /// <summary>The lease the holder declared; our own when it declared none.</summary>
    private TimeSpan DurationOf(V1LeaseSpec spec) =>
        spec.LeaseDurationSeconds is > 0 and var seconds ? TimeSpan.FromSeconds(seconds) : timings.LeaseDuration;
}
