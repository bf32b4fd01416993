namespace KeyRotator.Testing;

/// <summary>The most matching requests that were in flight at once (sent, answer not yet in).</summary>
public sealed class InFlightRecorder(Func<HttpRequestMessage, bool> counts) : DelegatingHandler
{
    private int _now;
    private int _max;

    public int Max => Volatile.Read(ref _max);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (!counts(request))
            return await base.SendAsync(request, cancellationToken);
        var now = Interlocked.Increment(ref _now);
        for (var max = Volatile.Read(ref _max); now > max; max = Volatile.Read(ref _max))
        {
            if (Interlocked.CompareExchange(ref _max, now, max) == max)
                break;
        }

        try
        {
            return await base.SendAsync(request, cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref _now);
        }
    }
}
