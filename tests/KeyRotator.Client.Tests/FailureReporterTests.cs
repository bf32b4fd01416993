using System.Net;
using System.Text.Json;

namespace KeyRotator.Client.Tests;

public sealed class FailureReporterTests
{
    [Fact]
    public async Task Failures_are_sent_in_one_batch_with_counts_and_the_service_account_token()
    {
        var tokenFile = Path.GetTempFileName();
        await File.WriteAllTextAsync(tokenFile, "projected-token\n", TestContext.Current.CancellationToken);
        var handler = new CapturingHandler();
        var options = new KeyRotatorValidationOptions { ReportEndpoint = new Uri("http://operator.keyrotator.svc:8080"), SetNamespace = "identity", SetName = "auth", ReportTokenPath = tokenFile, Heartbeat = false };
        using var reporter = new FailureReporter(options, new HttpClient(handler));

        reporter.Record(FailureReason.BadSignature, "kid-1");
        reporter.Record(FailureReason.BadSignature, "kid-1");
        reporter.Record(FailureReason.UnknownKid, "kid-9");
        var status = await reporter.FlushAsync(TestContext.Current.CancellationToken);

        Assert.Equal(202, status);
        var request = Assert.Single(handler.Requests);
        Assert.Equal("/v1/namespaces/identity/signingkeysets/auth/signaturefailures", request.Path);
        Assert.Equal("Bearer projected-token", request.Authorization);
        using var body = JsonDocument.Parse(request.Body);
        var failures = body.RootElement.GetProperty("failures").EnumerateArray()
            .ToDictionary(f => f.GetProperty("reason").GetString()!, f => f.GetProperty("count").GetInt64());
        Assert.Equal(2, failures["bad_signature"]);
        Assert.Equal(1, failures["unknown_kid"]);
        Assert.Null(await reporter.FlushAsync(TestContext.Current.CancellationToken));
        File.Delete(tokenFile);
    }

    [Fact]
    public async Task Without_failures_a_heartbeat_says_which_JWKS_the_verifier_holds_and_which_kid_it_signs_with()
    {
        var handler = new CapturingHandler();
        var options = new KeyRotatorValidationOptions { ReportEndpoint = new Uri("http://operator:8080"), SetNamespace = "identity", SetName = "auth", Instance = "payments-7d9f-x2" };
        var jwks = new TokenFactory().Jwks();
        using var reporter = new FailureReporter(options, new HttpClient(handler))
        {
            HeldJwks = () => JwksSnapshot.Parse(jwks),
            SigningKid = () => "kid-now",
        };

        Assert.Equal(202, await reporter.FlushAsync(TestContext.Current.CancellationToken));

        using var body = JsonDocument.Parse(Assert.Single(handler.Requests).Body);
        Assert.Empty(body.RootElement.GetProperty("failures").EnumerateArray());
        Assert.Equal("payments-7d9f-x2", body.RootElement.GetProperty("instance").GetString());
        // The hash the operator records for the same document (JwksDocument.ContentHash, the ConfigMap's content-hash annotation).
        Assert.Equal(KeyRotator.Model.Jose.JwksDocument.Parse(jwks).ContentHash(), body.RootElement.GetProperty("jwksHash").GetString());
        Assert.Equal("kid-now", body.RootElement.GetProperty("signingKid").GetString());
    }

    [Fact]
    public void A_full_queue_drops_and_counts_instead_of_blocking()
    {
        var options = new KeyRotatorValidationOptions { ReportEndpoint = new Uri("http://operator:8080"), SetNamespace = "ns", SetName = "set", ReportQueueCapacity = 5 };
        using var reporter = new FailureReporter(options, new HttpClient(new CapturingHandler()));

        for (var i = 0; i < 1000; i++)
            reporter.Record(FailureReason.Expired, "kid");

        Assert.Equal(995, reporter.Dropped);
    }

    [Fact]
    public async Task A_batch_the_operator_cannot_take_now_goes_with_the_next_report_and_one_it_refuses_is_dropped_and_counted()
    {
        var ct = TestContext.Current.CancellationToken;
        var answers = new Queue<Func<HttpResponseMessage>>([
            () => new HttpResponseMessage(HttpStatusCode.ServiceUnavailable),
            () => throw new HttpRequestException("connection refused"),
            () => throw new TaskCanceledException("HttpClient.Timeout"),
            () => new HttpResponseMessage(HttpStatusCode.Accepted),
            () => new HttpResponseMessage(HttpStatusCode.BadRequest),
        ]);
        var handler = new CapturingHandler(() => answers.Dequeue()());
        var options = new KeyRotatorValidationOptions { ReportEndpoint = new Uri("http://operator:8080"), SetNamespace = "ns", SetName = "set", Heartbeat = false };
        using var reporter = new FailureReporter(options, new HttpClient(handler));

        reporter.Record(FailureReason.BadSignature, "kid-1");
        reporter.Record(FailureReason.BadSignature, "kid-1");
        Assert.Equal(503, await reporter.FlushAsync(ct));
        reporter.Record(FailureReason.UnknownKid, "kid-9");
        Assert.Null(await reporter.FlushAsync(ct)); // unreachable
        Assert.Null(await reporter.FlushAsync(ct)); // no answer in time: no exception, and the reporter carries on
        reporter.Record(FailureReason.BadSignature, "kid-1");
        Assert.Equal(202, await reporter.FlushAsync(ct));

        // Every attempt carried the counts so far; the one accepted holds them all, and nothing was dropped.
        var accepted = Counts(handler.Requests[3].Body);
        Assert.Equal(3, accepted[("bad_signature", "kid-1")]);
        Assert.Equal(1, accepted[("unknown_kid", "kid-9")]);
        Assert.Equal(0, reporter.Dropped);

        // A refusal for good (400) is not sent again: it is dropped and counted.
        reporter.Record(FailureReason.Expired, "kid-1");
        Assert.Equal(400, await reporter.FlushAsync(ct));
        Assert.Equal(1, reporter.Dropped);
        Assert.Null(await reporter.FlushAsync(ct));
    }

    private static Dictionary<(string Reason, string Kid), long> Counts(string body)
    {
        using var json = JsonDocument.Parse(body);
        return json.RootElement.GetProperty("failures").EnumerateArray()
            .ToDictionary(f => (f.GetProperty("reason").GetString()!, f.GetProperty("kid").GetString()!), f => f.GetProperty("count").GetInt64());
    }

    private sealed class CapturingHandler(Func<HttpResponseMessage>? answer = null) : HttpMessageHandler
    {
        public List<(string Path, string? Authorization, string Body)> Requests { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Requests.Add((request.RequestUri!.AbsolutePath, request.Headers.Authorization?.ToString(), await request.Content!.ReadAsStringAsync(cancellationToken)));
            return answer is null ? new HttpResponseMessage(HttpStatusCode.Accepted) : answer();
        }
    }
}
