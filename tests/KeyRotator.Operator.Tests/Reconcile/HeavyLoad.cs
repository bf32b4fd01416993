namespace KeyRotator.Operator.Tests.Reconcile;

/// <summary>
/// Tests that load the machine on purpose (RSA key generation on every core, a second control plane
/// started mid-run). They run alone, after the rest: beside them, in-process operators of other tests
/// could miss their Lease renewals and end themselves, as a replica that cannot renew must.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class HeavyLoad
{
    public const string Name = "heavy load";
}
