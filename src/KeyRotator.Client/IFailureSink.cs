namespace KeyRotator.Client;

/// <summary>Takes a rejected token's reason and kid without blocking the request that saw it.</summary>
public interface IFailureSink
{
    void Record(FailureReason reason, string? kid);
}
