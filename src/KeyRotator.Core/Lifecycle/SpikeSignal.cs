namespace KeyRotator.Core.Lifecycle;

/// <summary>The spike rule's answer over the whole window, as the SignatureFailureSpike condition, its Events, its gauge and the wake time need it.</summary>
/// <param name="Description">What spikes, for the condition's message and the Event (no token content).</param>
/// <param name="Reason">The dominant failure reason, when spiking.</param>
/// <param name="Kid">The kid most failures name, when spiking.</param>
public sealed record SpikeSignal(bool Spiking, string Description, long WindowCount, TimeSpan Window, string? Reason = null, string? Kid = null);
