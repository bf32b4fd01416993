using System.Text.Json;
using KeyRotator.Model.Jose;

namespace KeyRotator.Core.Tests.Jose;

public sealed class DiscoveryDocumentTests
{
    private static readonly string[] ResponseTypes = ["id_token"];
    private static readonly string[] SubjectTypes = ["public"];
    private static readonly string[] Algorithms = ["ES256"];

    public static TheoryData<string, string> Issuers => new()
    {
        { "https://issuer.example.com/teams/a", "https://issuer.example.com/teams/a/jwks.json" },
        // What the serializer escapes by default (HTML-sensitive characters, '+', non-ASCII) is escaped the same way.
        { "https://issuer.example.com/a+b?x=<1>&y='z'", "https://issuer.example.com/a+b/jwks.json?q=\"é\"" },
    };

    [Theory]
    [MemberData(nameof(Issuers))]
    public void The_document_is_byte_for_byte_what_the_reflection_serializer_wrote(string issuer, string jwksUri)
    {
        // The implementation before issue #34's step 2, kept as the oracle: relying parties may pin the document's hash.
        var before = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["issuer"] = issuer,
            ["jwks_uri"] = jwksUri,
            ["response_types_supported"] = ResponseTypes,
            ["subject_types_supported"] = SubjectTypes,
            ["id_token_signing_alg_values_supported"] = Algorithms,
        }) + "\n";

        Assert.Equal(before, DiscoveryDocument.Serialize(issuer, "ES256", jwksUri));
    }
}
