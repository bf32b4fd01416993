using KeyRotator.Model.Resources;

namespace KeyRotator.Core.Lifecycle;

/// <summary>What <see cref="Failures.JwksCopyConflict"/> decided for a copy whose name someone else holds: a <see cref="Hold"/> of the set, or a <see cref="Skipped"/> copy.</summary>
public sealed record CopyConflict(StepFailure? Hold, SkippedTarget? Skipped);
