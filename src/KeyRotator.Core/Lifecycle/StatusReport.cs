using KeyRotator.Model.Resources;

namespace KeyRotator.Core.Lifecycle;

/// <summary>
/// What one reconcile reports, as <see cref="StatusComposer"/> decided it: the status to write (only if it
/// differs), the Events to record after it, in order, and the stage a failure counts under (null: none counted).
/// </summary>
public sealed record StatusReport(SigningKeySetStatus Status, IReadOnlyList<PlanEvent> Events, string? ErrorStage);
