namespace KeyRotator.Core.Lifecycle;

/// <summary>The outcome of validating a spec: a policy, or the problems a platform engineer must fix.</summary>
public sealed record SpecValidation(RotationPolicy? Policy, IReadOnlyList<string> Problems)
{
    public bool IsValid => Policy is not null;

    /// <summary>All problems in one condition message (as many as fit, then "… and N more").</summary>
    public string Message => StatusMessage.Join("", "; ", Problems);
}
