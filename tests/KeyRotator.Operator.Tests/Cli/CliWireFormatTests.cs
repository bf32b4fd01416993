using System.Text;
using System.Text.Json;
using k8s.Models;
using KeyRotator.Cli;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Resources;
using Microsoft.Extensions.Time.Testing;

namespace KeyRotator.Operator.Tests.Cli;

/// <summary>
/// `-o json` went from anonymous types through the reflection serializer to records in a generated context
/// (issue #34): scripts that parse the CLI's output see the same bytes. The old anonymous projection, through
/// the reflection serializer with the options the CLI had (web defaults, indented), is the oracle; the strings
/// need escaping (quote, apostrophe, '+', '&lt;', non-ASCII). No cluster needed.
/// </summary>
public sealed class CliWireFormatTests
{
    private const string Awkward = "it's <a+b> & \"é\"";
    private static readonly JsonSerializerOptions Before = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    [Fact]
    public void Status_rows_are_the_json_the_anonymous_rows_were()
    {
        var at = new DateTimeOffset(2026, 3, 1, 10, 0, 0, TimeSpan.FromHours(1)).AddTicks(1234567);
        V1Alpha1SigningKeySet[] sets =
        [
            new()
            {
                Metadata = new V1ObjectMeta { NamespaceProperty = "identity", Name = "auth" },
                Spec = new SigningKeySetSpec { Algorithm = "ES256" },
                Status = new SigningKeySetStatus
                {
                    ActiveKeyId = Awkward,
                    Keys = [new KeyStatus { Kid = Awkward, State = "Active", Generation = 3, CreatedAt = at }, new KeyStatus { Kid = "k2", State = "Next", Generation = 4 }],
                    NextRotationTime = at,
                    Conditions = [new Condition { Type = "Ready", Status = "False", Reason = Awkward, Message = "m", LastTransitionTime = at }],
                    Propagation = new PropagationStatus { Verifiers = 3, VerifiersWithActiveKey = 2, VerifiersWithNextKey = 1, Signers = 2, SignersOnActiveKey = 1, StaleVerifiers = [Awkward], StaleSigners = null },
                },
            },
            // A set the operator has not seen yet: no status, so nulls and "Unknown".
            new() { Metadata = new V1ObjectMeta { NamespaceProperty = "identity", Name = "new" }, Spec = new SigningKeySetSpec { Algorithm = "RS256" } },
        ];

        // Before: CliApp.StatusAsync's anonymous projection.
        var before = sets.Select(s => new
        {
            @namespace = s.Metadata.NamespaceProperty,
            name = s.Metadata.Name,
            algorithm = s.Spec.Algorithm,
            activeKid = s.Status?.ActiveKeyId,
            keys = (s.Status?.Keys ?? []).Select(k => new { kid = k.Kid, state = k.State, generation = k.Generation }).ToList(),
            nextRotation = s.Status?.NextRotationTime,
            ready = s.Status?.Conditions?.FirstOrDefault(c => c.Type == "Ready")?.Status ?? "Unknown",
            reason = s.Status?.Conditions?.FirstOrDefault(c => c.Type == "Ready")?.Reason,
            propagation = s.Status?.Propagation,
        }).ToList();

        var now = JsonSerializer.Serialize(sets.Select(StatusRow.From).ToList(), CliJson.Default.ListStatusRow);

        Assert.Equal(JsonSerializer.Serialize(before, Before), now);
        Assert.Contains("\"activeKid\": null", now, StringComparison.Ordinal);
    }

    [Fact]
    public void Rotate_and_revoke_answers_are_the_json_the_anonymous_answers_were()
    {
        Assert.Equal(
            JsonSerializer.Serialize(new { @namespace = "identity", name = Awkward, rotateNow = "2026-03-01T09:00:00.123Z" }, Before),
            JsonSerializer.Serialize(new RotateAnswer("identity", Awkward, "2026-03-01T09:00:00.123Z"), CliJson.Default.RotateAnswer));
        Assert.Equal(
            JsonSerializer.Serialize(new { @namespace = "identity", name = "auth", revoked = Awkward, wasActive = true }, Before),
            JsonSerializer.Serialize(new RevokeAnswer("identity", "auth", Awkward, true), CliJson.Default.RevokeAnswer));
    }

    [Theory]
    [InlineData("""{"alg":"HS256","jku":"https://attacker.example/<jwks>.json"}""", """{"iss":"it's \u00e9","aud":["a","b"],"exp":1772355600,"iat":1772350000}""")]
    [InlineData("""{"alg":"ES256","kid":"k"}""", """{"sub":"x"}""")]
    public async Task Inspect_prints_the_json_the_anonymous_report_was(string header, string payload)
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 10, 0, 0, TimeSpan.Zero));
        var token = $"{Base64Url.Encode(Encoding.UTF8.GetBytes(header))}.{Base64Url.Encode(Encoding.UTF8.GetBytes(payload))}.c2ln";
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();

        await new CliApp(stdout, stderr, time).RunAsync(["inspect", token, "-o", "json"]);

        // Before: CliApp.InspectAsync's anonymous object, one line.
        var report = TokenInspector.Inspect(token, time.GetUtcNow(), null);
        var before = JsonSerializer.Serialize(new { header = report.Header, payload = report.Payload, findings = report.Findings, verification = report.Verification }, Before);
        Assert.Equal(before + stdout.NewLine, stdout.ToString());
        Assert.Empty(stderr.ToString());
    }
}
