namespace KeyRotator.Core.Lifecycle;

/// <summary>One reason a set may not move forward, in the words Ready=False and the Warning Event use.</summary>
public sealed record HoldProblem(string Reason, string Message);
