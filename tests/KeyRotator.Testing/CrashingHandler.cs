namespace KeyRotator.Testing;

/// <summary>
/// Simulates the operator process dying right after one API write succeeds: the matching request
/// reaches the API server, its answer is lost, and every later request fails as if the process were gone.
/// </summary>
public sealed class CrashingHandler(Func<HttpRequestMessage, bool> crashAfter) : DelegatingHandler
{
    private readonly TaskCompletionSource _crashed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _dead;

    /// <summary>Only requests made after this is set can trigger the crash.</summary>
    public bool Armed { get; set; }

    public Task Crashed => _crashed.Task;

    /// <summary>The process dies now: no request of its reaches the API server any more.</summary>
    public void Kill()
    {
        _dead = true;
        _crashed.TrySetResult();
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (_dead)
            throw new HttpRequestException("simulated crash: the operator process is gone");
        var response = await base.SendAsync(request, cancellationToken);
        if (Armed && response.IsSuccessStatusCode && crashAfter(request))
        {
            _dead = true;
            _crashed.TrySetResult();
            response.Dispose();
            throw new HttpRequestException($"simulated crash after {request.Method} {request.RequestUri?.AbsolutePath}");
        }

        return response;
    }
}
