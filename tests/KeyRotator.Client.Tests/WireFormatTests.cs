using System.Net;
using System.Net.Http.Json;
using System.Security.Claims;
using System.Text.Json;
using Microsoft.IdentityModel.Tokens;

namespace KeyRotator.Client.Tests;

/// <summary>
/// The client's JSON went from the reflection serializer to a generated context and a Utf8JsonWriter (issue #34):
/// what the operator receives and what verifiers parse keep their exact bytes. The reflection serializer, called as
/// each call site called it before, is the oracle; the strings need escaping (quote, apostrophe, '+', '&lt;', non-ASCII).
/// </summary>
public sealed class WireFormatTests : IDisposable
{
    private const string Awkward = "it's <a+b> & \"é\"";

    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("keyrotator-wire-");

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public async Task A_failure_report_posts_the_bytes_and_content_type_JsonContent_posted()
    {
        var ct = TestContext.Current.CancellationToken;
        var handler = new CapturingHandler();
        var options = new KeyRotatorValidationOptions { ReportEndpoint = new Uri("http://operator:8080"), SetNamespace = "identity", SetName = "auth", Instance = Awkward, Heartbeat = true };
        var jwks = JwksSnapshot.Parse(new TokenFactory().Jwks());
        using var reporter = new FailureReporter(options, new HttpClient(handler)) { HeldJwks = () => jwks, SigningKid = () => Awkward };
        reporter.Record(FailureReason.BadSignature, Awkward);
        reporter.Record(FailureReason.BadSignature, Awkward);
        reporter.Record(FailureReason.UnknownKid, null);

        Assert.Equal(202, await reporter.FlushAsync(ct));

        // Before: JsonContent.Create(report), the reflection serializer with the web defaults.
        using var before = JsonContent.Create(new FailureReport([new("bad_signature", Awkward, 2), new("unknown_kid", null, 1)])
        {
            Instance = Awkward,
            JwksHash = jwks.ContentHash,
            SigningKid = Awkward,
        });
        var sent = Assert.Single(handler.Requests);
        Assert.Equal(before.Headers.ContentType?.ToString(), sent.ContentType);
        Assert.Equal(await before.ReadAsStringAsync(ct), sent.Body);
        Assert.Contains("\"kid\":null", sent.Body, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("kid-1", "ES256")]
    [InlineData(Awkward, "PS384")]
    public async Task A_vault_signed_tokens_header_is_the_dictionary_the_serializer_wrote(string kid, string alg)
    {
        File.WriteAllText(Path.Combine(_directory.FullName, "kid"), kid);
        File.WriteAllText(Path.Combine(_directory.FullName, "alg"), alg);
        File.WriteAllText(Path.Combine(_directory.FullName, "key-ref"), "https://contoso.vault.azure.net/keys/jwt/0123");
        VaultSign sign = (_, _, _, _) => Task.FromResult(new byte[] { 1, 2, 3 });

        var token = await new KeyRotatorSigner(_directory.FullName).CreateTokenAsync("https://issuer", "api", TimeSpan.FromMinutes(5), [new Claim("sub", "alice")], sign, TestContext.Current.CancellationToken);

        // Before: JsonSerializer.Serialize of a Dictionary<string, string>, default options.
        var before = Base64UrlEncoder.Encode(JsonSerializer.Serialize(new Dictionary<string, string> { ["alg"] = alg, ["kid"] = kid, ["typ"] = "JWT" }));
        Assert.Equal(before, token.Split('.')[0]);
    }

    private sealed class CapturingHandler : HttpMessageHandler
    {
        public List<(string? ContentType, string Body)> Requests { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Requests.Add((request.Content!.Headers.ContentType?.ToString(), await request.Content.ReadAsStringAsync(cancellationToken)));
            return new HttpResponseMessage(HttpStatusCode.Accepted);
        }
    }
}
