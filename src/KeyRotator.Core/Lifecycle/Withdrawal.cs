using KeyRotator.Model.Resources;

namespace KeyRotator.Core.Lifecycle;

/// <summary>
/// The result of <see cref="RotationPlanner.Withdraw"/>: status with revocations and retirements
/// applied, the kids that must be in no JWKS and no signing Secret, and when to look again.
/// </summary>
public sealed record Withdrawal(SigningKeySetStatus Status, IReadOnlySet<string> Unpublished, IReadOnlyList<PlanEvent> Events, DateTimeOffset? NextRetirement);
