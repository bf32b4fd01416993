namespace KeyRotator.Testing;

/// <summary>Polls a condition until it holds or a deadline passes (Gomega's Eventually), then says what it last saw.</summary>
public static class Eventually
{
    public static async Task<T> HoldsAsync<T>(Func<Task<T>> observe, Func<T, bool> condition, TimeSpan timeout, string what, CancellationToken cancellationToken = default)
    {
        var deadline = DateTime.UtcNow + timeout;
        T last = default!;
        Exception? lastError = null;
        while (true)
        {
            try
            {
                last = await observe();
                if (condition(last))
                    return last;
                lastError = null;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                lastError = e;
            }

            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{what} did not happen within {timeout}; last observed: {(lastError?.Message ?? Describe(last))}");
            await Task.Delay(100, cancellationToken);
        }
    }

    private static string Describe<T>(T value) => value switch
    {
        null => "nothing",
        _ => k8s.KubernetesJson.Serialize(value),
    };
}
