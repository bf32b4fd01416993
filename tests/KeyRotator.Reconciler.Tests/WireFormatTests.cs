using System.Text;
using System.Text.Json;
using k8s.Models;
using KeyRotator.Operator.Serving;
using KeyRotator.Operator.Vault;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KeyRotator.Reconciler.Tests;

/// <summary>
/// The operator's own JSON went from the reflection serializer to generated contexts (issue #34): the key-store
/// entries already stored in clusters and the HTTP answers callers parse keep their exact bytes. The reflection
/// serializer with the options each call site had is the oracle.
/// </summary>
public sealed class WireFormatTests
{
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_key_store_entry_is_written_as_before_and_one_stored_before_reads_back(bool enabled)
    {
        // A disabled entry has no private key: null, written as null.
        var pkcs8 = enabled ? Convert.ToBase64String([1, 2, 3]) : null;
        var entry = new KeyStoreEntry("kid-3", "ES256", 3, new DateTimeOffset(2026, 3, 1, 10, 0, 0, TimeSpan.FromHours(1)).AddTicks(1234567), enabled, "{\"kty\":\"EC\"}", pkcs8);
        var older = entry with { Kid = "kid-1", Generation = 1 };
        var stored = new V1Secret
        {
            Data = new Dictionary<string, byte[]>
            {
                [KeyStoreEntry.NameOf(3)] = JsonSerializer.SerializeToUtf8Bytes(entry, Web),
                [KeyStoreEntry.NameOf(1)] = JsonSerializer.SerializeToUtf8Bytes(older, Web),
                ["readme"] = Encoding.UTF8.GetBytes("not an entry"),
            },
        };

        Assert.Equal(Encoding.UTF8.GetString(JsonSerializer.SerializeToUtf8Bytes(entry, Web)), Encoding.UTF8.GetString(entry.ToBytes()));
        Assert.Equal([older, entry], KeyStoreEntry.ReadAll(stored));
    }

    [Fact]
    public async Task A_refusal_is_the_error_body_the_framework_wrote()
    {
        const string message = "could not check this caller's credentials; unknown reason \"x\", <bad_signature> & é";

        var answer = await BodyAsync(context => ErrorAnswer.WriteAsync(context, StatusCodes.Status400BadRequest, message));
        // Before: an anonymous object through ASP.NET Core's own JSON options (reflection).
        var before = await BodyAsync(Results.Json(new { error = message }, statusCode: StatusCodes.Status400BadRequest).ExecuteAsync);

        Assert.Equal(before, answer);
        Assert.Contains("caller's", answer.Body, StringComparison.Ordinal);
    }

    [Fact]
    public void A_report_reads_as_the_web_defaults_read_it_and_its_answer_is_the_count_it_was()
    {
        // Any case of member names, counts sent as strings: what reporters could send before still parses.
        const string body = "{\"Failures\":[{\"reason\":\"expired\",\"KID\":\"k1\",\"count\":\"3\"},{\"reason\":\"bad_signature\",\"count\":2}],\"instance\":\"pod-1\",\"jwksHash\":\"ab12\",\"signingKid\":\"k2\"}";

        var report = JsonSerializer.Deserialize(body, ServingJson.Default.Report)!;

        Assert.Equal(("pod-1", "ab12", "k2"), (report.Instance, report.JwksHash, report.SigningKid));
        Assert.Equal([new("expired", "k1", 3), new("bad_signature", null, 2)], report.Failures!);
        Assert.Equal("{\"accepted\":5}", JsonSerializer.Serialize(new ReportAccepted(5), ServingJson.Answers.ReportAccepted));
    }

    private static async Task<(int Status, string? ContentType, string Body)> BodyAsync(Func<HttpContext, Task> answer)
    {
        var context = new DefaultHttpContext { RequestServices = new ServiceCollection().AddLogging().BuildServiceProvider() };
        context.Response.Body = new MemoryStream();
        await answer(context);
        return (context.Response.StatusCode, context.Response.ContentType, Encoding.UTF8.GetString(((MemoryStream)context.Response.Body).ToArray()));
    }
}
