using KeyRotator.Model.Resources;

namespace KeyRotator.Core.Lifecycle;

/// <summary>What a published plan's report is composed from, besides the plan's own status.</summary>
/// <param name="SpecParameters">What the spec's keys are made with now: pinned into status with the first key.</param>
/// <param name="Propagation">Which of the plan's keys verifiers and signers hold.</param>
public sealed record MovedReport(
    StepOutcome.Moved Moved,
    KeyParameters SpecParameters,
    PropagationStatus? Propagation,
    SpikeSignal Spike);
