using KeyRotator.Model.Kubernetes;

namespace KeyRotator.Operator.Kubernetes;

/// <summary>What the handlers need to know about a request to the API server.</summary>
internal static class ApiRequests
{
    /// <summary>A watch: a stream of events that stays open, never one answer.</summary>
    public static bool IsWatch(HttpRequestMessage request) => request.RequestUri?.Query.Contains("watch=true", StringComparison.Ordinal) == true;

    /// <summary>A request for a Lease (leader election).</summary>
    public static bool IsLease(HttpRequestMessage request) => request.RequestUri?.AbsolutePath.Contains("/leases", StringComparison.Ordinal) == true;
}
