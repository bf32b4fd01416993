namespace KeyRotator.Testing;

/// <summary>Counts the requests an operator under test sends to the API server that match <paramref name="counts"/>.</summary>
public sealed class RequestCounter(Func<HttpRequestMessage, bool> counts) : DelegatingHandler
{
    private int _count;

    public int Count => Volatile.Read(ref _count);

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (counts(request))
            Interlocked.Increment(ref _count);
        return base.SendAsync(request, cancellationToken);
    }
}
