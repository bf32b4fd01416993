using KeyRotator.Model.Resources;

namespace KeyRotator.Core.Lifecycle;

/// <summary>What decides when a set that moved is looked at again, besides its plan.</summary>
/// <param name="Spike">The spike rule's answer over the whole window.</param>
/// <param name="NextReporterExpiry">When the next verifier or signer that reported drops out of the window (null: none reported).</param>
/// <param name="Rotation">spec.rotation (the external documents' max-age).</param>
/// <param name="PublishesExternally">spec.publish names a target outside the cluster.</param>
public sealed record WakeFacts(SpikeSignal Spike, DateTimeOffset? NextReporterExpiry, RotationSpec? Rotation, bool PublishesExternally);
