using Azure;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using KeyRotator.Operator.Publishing;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Publishing;

/// <summary>One Azurite for the blob writer's tests.</summary>
public sealed class AzuriteFixture : IAsyncLifetime
{
    public AzuriteServer Server { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Server = await AzuriteServer.StartAsync();

    public async ValueTask DisposeAsync() => await Server.DisposeAsync();

    /// <summary>A new container of its own for one test.</summary>
    public async Task<BlobContainerClient> ContainerAsync(BlobClientOptions? options = null)
    {
        var container = new BlobContainerClient(Server.ConnectionString, "t" + Guid.NewGuid().ToString("N")[..12], options ?? new BlobClientOptions());
        await container.CreateAsync();
        return container;
    }
}

/// <summary>
/// The blob writer against Azurite (the Azure Storage emulator): documents as relying parties fetch them,
/// no write when converged, never a blob someone else wrote, and a writer in between detected by ETag.
/// </summary>
public sealed class BlobWriterTests(AzuriteFixture azurite) : IClassFixture<AzuriteFixture>
{
    private const string Uid = "5b1e4f0a-0000-4000-8000-000000000001";
    private const string CacheControl = "public, max-age=75";

    [Fact]
    public async Task A_document_is_written_with_its_content_type_cache_control_and_marker_and_a_converged_one_is_not_written_again()
    {
        var ct = TestContext.Current.CancellationToken;
        var container = await azurite.ContainerAsync();

        var (first, hash, _, _) = await BlobWriter.ApplyAsync(container, "team/auth/.well-known/jwks.json", "{\"keys\":[]}\n", CacheControl, Uid, verified: null, ct);
        var written = (await container.GetBlobClient("team/auth/.well-known/jwks.json").GetPropertiesAsync(cancellationToken: ct)).Value;
        var (second, _, _, _) = await BlobWriter.ApplyAsync(container, "team/auth/.well-known/jwks.json", "{\"keys\":[]}\n", CacheControl, Uid, verified: null, ct);
        var after = (await container.GetBlobClient("team/auth/.well-known/jwks.json").GetPropertiesAsync(cancellationToken: ct)).Value;

        Assert.Equal((ApplyResult.Written, ApplyResult.Unchanged), (first, second));
        Assert.Equal(("application/json", CacheControl), (written.ContentType, written.CacheControl));
        Assert.Equal(Uid, written.Metadata[BlobWriter.SetUidMetadata]);
        Assert.Equal(hash, written.Metadata[BlobWriter.ContentHashMetadata]);
        Assert.Equal(written.ETag, after.ETag);
        var content = (await container.GetBlobClient("team/auth/.well-known/jwks.json").DownloadContentAsync(ct)).Value.Content.ToString();
        Assert.Equal("{\"keys\":[]}\n", content);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("another-set-uid")]
    public async Task A_blob_the_set_did_not_write_is_never_overwritten_nor_deleted(string? marker)
    {
        var ct = TestContext.Current.CancellationToken;
        var container = await azurite.ContainerAsync();
        var theirs = container.GetBlobClient("team/auth/.well-known/jwks.json");
        await theirs.UploadAsync(BinaryData.FromString("their document"), new BlobUploadOptions
        {
            Metadata = marker is null ? null : new Dictionary<string, string> { [BlobWriter.SetUidMetadata] = marker },
        }, ct);

        var (result, _, _, _) = await BlobWriter.ApplyAsync(container, "team/auth/.well-known/jwks.json", "{\"keys\":[]}\n", CacheControl, Uid, verified: null, ct);
        var deleted = await BlobWriter.DeleteOwnedAsync(container, "team/auth/.well-known/jwks.json", Uid, ct);

        Assert.Equal(ApplyResult.NotOwned, result);
        Assert.False(deleted);
        Assert.Equal("their document", (await theirs.DownloadContentAsync(ct)).Value.Content.ToString());
    }

    [Fact]
    public async Task A_writer_in_between_is_detected_by_the_etag_and_the_write_decided_again()
    {
        var ct = TestContext.Current.CancellationToken;
        var interloper = new WriteBeforeFirstUpload(azurite.Server.ConnectionString);
        var options = new BlobClientOptions();
        options.AddPolicy(interloper, HttpPipelinePosition.PerCall);
        var container = await azurite.ContainerAsync(options);
        interloper.Container = container.Name;
        await BlobWriter.ApplyAsync(container, "doc.json", "{\"v\":1}", CacheControl, Uid, verified: null, ct);

        interloper.Armed = true;
        var (result, _, _, _) = await BlobWriter.ApplyAsync(container, "doc.json", "{\"v\":2}", CacheControl, Uid, verified: null, ct);

        Assert.Equal(ApplyResult.Written, result);
        Assert.Equal(1, interloper.Interventions);
        Assert.Contains(412, interloper.Answers);
        Assert.Equal("{\"v\":2}", (await container.GetBlobClient("doc.json").DownloadContentAsync(ct)).Value.Content.ToString());
    }

    [Fact]
    public async Task The_storage_services_refusal_is_described_by_status_and_error_code_only()
    {
        var ct = TestContext.Current.CancellationToken;
        var container = new BlobContainerClient(azurite.Server.ConnectionString, "does-not-exist");

        var e = await Assert.ThrowsAsync<RequestFailedException>(() => BlobWriter.ApplyAsync(container, "doc.json", "{}", CacheControl, Uid, verified: null, ct));

        Assert.Equal("Azure Blob Storage answered 404 ContainerNotFound", BlobWriter.Describe(e));
    }

    [Fact]
    [Trait("Category", "Timing")] // a timing guarantee of the product, measured: see CONTRIBUTING.md, "Timing tests"
    public async Task A_throttling_account_is_waited_out_for_longer_than_a_fault_and_every_request_to_it_honours_retry_after()
    {
        var ct = TestContext.Current.CancellationToken;
        var metrics = new KeyRotator.Operator.Observability.OperatorMetrics(TimeProvider.System);
        var pipeline = new TargetPipeline("throttled", metrics, TimeProvider.System);
        // Azure Storage's answer when an account is over its limits: 503 ServerBusy (here with Retry-After: 1), four times:
        // more than the three retries a fault gets.
        var front = new ThrottlingFront(throttle: 4, status: 503, retryAfter: "1");
        pipeline.Options.Transport = new HttpClientTransport(new HttpClient(front));
        var created = await azurite.ContainerAsync();
        var container = new BlobContainerClient(azurite.Server.ConnectionString, created.Name, pipeline.Options);

        var (result, _, _, _) = await BlobWriter.ApplyAsync(container, "doc.json", "{}", CacheControl, Uid, verified: null, ct);

        Assert.Equal(ApplyResult.Written, result);
        Assert.Equal(4, front.Answered.Count(a => a.Status == 503));
        // Every request after a 503 came at least Retry-After later (the account's word, not only the SDK's backoff).
        for (var i = 1; i < front.Answered.Count; i++)
        {
            if (front.Answered[i - 1].Status == 503)
                Assert.True(front.Answered[i].At - front.Answered[i - 1].At >= TimeSpan.FromMilliseconds(950), $"request {i} came {front.Answered[i].At - front.Answered[i - 1].At} after a 503 with Retry-After: 1");
        }

        Assert.Equal(4, metrics.PublishRequests.WithLabels("throttled", "HEAD", "503").Value + metrics.PublishRequests.WithLabels("throttled", "PUT", "503").Value);
        Assert.Equal(1, metrics.PublishRequests.WithLabels("throttled", "PUT", "201").Value);
    }

    [Fact]
    public async Task A_fault_is_retried_three_times_then_described()
    {
        var ct = TestContext.Current.CancellationToken;
        var metrics = new KeyRotator.Operator.Observability.OperatorMetrics(TimeProvider.System);
        var pipeline = new TargetPipeline("failing", metrics, TimeProvider.System);
        var front = new ThrottlingFront(throttle: int.MaxValue, status: 500, retryAfter: null);
        pipeline.Options.Transport = new HttpClientTransport(new HttpClient(front));
        var container = new BlobContainerClient(azurite.Server.ConnectionString, "t" + Guid.NewGuid().ToString("N")[..12], pipeline.Options);

        var e = await Assert.ThrowsAsync<RequestFailedException>(() => BlobWriter.ApplyAsync(container, "doc.json", "{}", CacheControl, Uid, verified: null, ct));

        Assert.Equal(1 + TargetPipeline.FaultRetries, front.Answered.Count);
        Assert.Equal("Azure Blob Storage answered 500 InternalError", BlobWriter.Describe(e));
        Assert.Equal(4, metrics.PublishRequests.WithLabels("failing", "HEAD", "500").Value);
    }

    /// <summary>In front of Azurite: answers the first <c>throttle</c> requests as an overloaded storage account does, then passes them on.</summary>
    private sealed class ThrottlingFront(int throttle, int status, string? retryAfter) : DelegatingHandler(new HttpClientHandler())
    {
        public List<(DateTimeOffset At, int Status)> Answered { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (Answered.Count < throttle)
            {
                var code = status == 503 ? "ServerBusy" : "InternalError";
                var answer = new HttpResponseMessage((System.Net.HttpStatusCode)status)
                {
                    Content = new StringContent($"<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>The server is busy.</Message></Error>", System.Text.Encoding.UTF8, "application/xml"),
                };
                answer.Headers.Add("x-ms-error-code", code);
                if (retryAfter is not null)
                    answer.Headers.Add("Retry-After", retryAfter);
                Answered.Add((DateTimeOffset.UtcNow, status));
                return answer;
            }

            var response = await base.SendAsync(request, cancellationToken);
            Answered.Add((DateTimeOffset.UtcNow, (int)response.StatusCode));
            return response;
        }
    }

    /// <summary>Before the first upload it lets through once armed, another writer (same set marker) rewrites the blob: the upload's If-Match is stale.</summary>
    private sealed class WriteBeforeFirstUpload(string connectionString) : HttpPipelinePolicy
    {
        public string Container { get; set; } = "";

        public bool Armed { get; set; }

        public int Interventions { get; private set; }

        public List<int> Answers { get; } = [];

        public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline) => throw new NotSupportedException("async only");

        public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
        {
            if (Armed && message.Request.Method == RequestMethod.Put)
            {
                Armed = false;
                Interventions++;
                await new BlobContainerClient(connectionString, Container).GetBlobClient("doc.json").UploadAsync(BinaryData.FromString("{\"v\":\"other writer\"}"), new BlobUploadOptions
                {
                    Metadata = new Dictionary<string, string> { [BlobWriter.SetUidMetadata] = Uid, [BlobWriter.ContentHashMetadata] = "other" },
                });
            }

            await ProcessNextAsync(message, pipeline);
            if (message.Request.Method == RequestMethod.Put)
                Answers.Add(message.Response.Status);
        }
    }
}
