namespace KeyRotator.Operator.Tests.Chaos;

/// <summary>
/// Tests that run the built operator as separate processes and kill them. They run alone, after the
/// rest: two operator processes at full tilt on two cores would slow every timing test beside them.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RealProcesses
{
    public const string Name = "real operator processes";
}
