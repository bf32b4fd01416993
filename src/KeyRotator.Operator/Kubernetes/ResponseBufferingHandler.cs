using KeyRotator.Model.Kubernetes;

namespace KeyRotator.Operator.Kubernetes;

/// <summary>
/// Reads each Kubernetes API answer's body into memory, asynchronously, before KubernetesClient sees it.
/// KubernetesClient asks for the response at its headers and then deserializes the body with the
/// synchronous <c>JsonSerializer.Deserialize(Stream)</c>, so a body the API server sends a moment after
/// its headers holds a thread-pool thread until it arrives. Under a burst that starves the pool: 200
/// verifiers' first reports (a TokenReview and a SubjectAccessReview each, answered slowly) blocked
/// 35 threads, timers ran 10 to 40 s late, and the leader missed its renew deadline and stepped down.
/// With the body already read, deserializing blocks nothing. Watches stream for minutes and are left alone.
/// </summary>
public sealed class ResponseBufferingHandler : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        if (ApiRequests.IsWatch(request))
            return response;
        try
        {
            await response.Content.LoadIntoBufferAsync(cancellationToken);
        }
        catch
        {
            response.Dispose();
            throw;
        }

        return response;
    }
}
