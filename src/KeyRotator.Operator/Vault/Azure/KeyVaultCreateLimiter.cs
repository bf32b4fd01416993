using Azure.Core;
using Azure.Core.Pipeline;
using KeyRotator.Operator.Configuration;

namespace KeyRotator.Operator.Vault.Azure;

/// <summary>
/// Keeps key creation under Key Vault's documented service limits (per vault: 20 software-key or 10
/// HSM-key creates in any 10 s), so that a rotation storm over many sets waits here instead of
/// turning into a storm of 429s. Each create attempt on the wire (retries included) takes a slot; a
/// slot counts from when its answer arrived, which is never before the vault counted it.
/// </summary>
public sealed class KeyVaultCreateLimiter(TimeProvider time, int softwareLimit = AzureKeyVaultOptions.SoftwareCreatesServiceLimit, int hsmLimit = AzureKeyVaultOptions.HsmCreatesServiceLimit)
{
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(10);

    /// <summary>The message property that marks a create request, with whether the key is HSM-protected.</summary>
    public const string CreateProperty = "keyrotator.create.hsm";

    private readonly Dictionary<(string Vault, bool Hsm), Bucket> _buckets = [];

    /// <summary>Waits for a slot; dispose the lease when the vault has answered.</summary>
    public async ValueTask<IDisposable> AcquireAsync(string vault, bool hsm, CancellationToken cancellationToken)
    {
        var limit = hsm ? hsmLimit : softwareLimit;
        while (true)
        {
            TimeSpan wait;
            lock (_buckets)
            {
                if (!_buckets.TryGetValue((vault, hsm), out var bucket))
                    _buckets[(vault, hsm)] = bucket = new Bucket();
                var now = time.GetUtcNow();
                while (bucket.Answered.Count > 0 && bucket.Answered.Peek() + Window <= now)
                    bucket.Answered.Dequeue();
                if (bucket.InFlight + bucket.Answered.Count < limit)
                {
                    bucket.InFlight++;
                    return new Lease(this, bucket);
                }

                // Full: the earliest a slot frees is when the oldest answered create leaves the window.
                wait = bucket.Answered.Count > 0 ? bucket.Answered.Peek() + Window - now : TimeSpan.FromMilliseconds(100);
            }

            await Task.Delay(wait > TimeSpan.Zero ? wait : TimeSpan.FromMilliseconds(1), time, cancellationToken);
        }
    }

    private void Release(Bucket bucket)
    {
        lock (_buckets)
        {
            bucket.InFlight--;
            bucket.Answered.Enqueue(time.GetUtcNow());
        }
    }

    /// <summary>The pipeline step: create requests wait for a slot, everything else passes.</summary>
    public HttpPipelinePolicy Policy() => new LimiterPolicy(this);

    private sealed class Bucket
    {
        public int InFlight { get; set; }

        public Queue<DateTimeOffset> Answered { get; } = new();
    }

    private sealed class Lease(KeyVaultCreateLimiter limiter, Bucket bucket) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
                limiter.Release(bucket);
        }
    }

    private sealed class LimiterPolicy(KeyVaultCreateLimiter limiter) : HttpPipelinePolicy
    {
        public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline) =>
            ProcessAsync(message, pipeline).AsTask().GetAwaiter().GetResult();

        public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
        {
            if (!message.TryGetProperty(CreateProperty, out var hsm) || hsm is not bool isHsm)
            {
                await ProcessNextAsync(message, pipeline);
                return;
            }

            using var lease = await limiter.AcquireAsync(message.Request.Uri.Host ?? "", isHsm, message.CancellationToken);
            await ProcessNextAsync(message, pipeline);
        }
    }
}
