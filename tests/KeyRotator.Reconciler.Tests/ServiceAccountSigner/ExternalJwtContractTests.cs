using Google.Protobuf.Reflection;
using KeyRotator.ExternalJwt;

namespace KeyRotator.Reconciler.Tests.ServiceAccountSigner;

/// <summary>
/// The generated contract against kube-apiserver's ExternalJWTSigner v1 as published (k8s.io/externaljwt/apis/v1):
/// the API server calls /v1.ExternalJWTSigner/&lt;method&gt; and decodes fields by number, so every name and
/// number here is what the real API server sends and expects. The test client (playing the API server) uses
/// the same generated code, so only this test catches a proto edited away from upstream.
/// </summary>
public sealed class ExternalJwtContractTests
{
    [Fact]
    public void The_service_is_v1_ExternalJWTSigner_with_Sign_FetchKeys_and_Metadata()
    {
        var service = ExternalJWTSigner.Descriptor;

        Assert.Equal("v1.ExternalJWTSigner", service.FullName);
        Assert.Equal(
            ["Sign(v1.SignJWTRequest) v1.SignJWTResponse", "FetchKeys(v1.FetchKeysRequest) v1.FetchKeysResponse", "Metadata(v1.MetadataRequest) v1.MetadataResponse"],
            service.Methods.Select(m => $"{m.Name}({m.InputType.FullName}) {m.OutputType.FullName}"));
    }

    public static TheoryData<string, string[]> Messages => new()
    {
        { "v1.SignJWTRequest", ["claims=1 String"] },
        { "v1.SignJWTResponse", ["header=1 String", "signature=2 String"] },
        { "v1.FetchKeysRequest", [] },
        { "v1.FetchKeysResponse", ["keys=1 Message v1.Key repeated", "data_timestamp=2 Message google.protobuf.Timestamp", "refresh_hint_seconds=3 Int64"] },
        { "v1.Key", ["key_id=1 String", "key=2 Bytes", "exclude_from_oidc_discovery=3 Bool"] },
        { "v1.MetadataRequest", [] },
        { "v1.MetadataResponse", ["max_token_expiration_seconds=1 Int64"] },
    };

    [Theory]
    [MemberData(nameof(Messages))]
    public void Every_message_has_upstreams_field_names_numbers_and_types(string message, string[] fields)
    {
        var descriptor = ExternaljwtReflection.Descriptor.MessageTypes.Single(m => m.FullName == message);

        Assert.Equal(fields, descriptor.Fields.InFieldNumberOrder().Select(Describe));
    }

    private static string Describe(FieldDescriptor field) =>
        $"{field.Name}={field.FieldNumber} {field.FieldType}"
        + (field.FieldType == FieldType.Message ? $" {field.MessageType.FullName}" : "")
        + (field.IsRepeated ? " repeated" : "");
}
