using System.Text.Json;
using KeyRotator.Model.Jose;

namespace KeyRotator.Operator.ServiceAccountSigner;

/// <summary>The token header kube-apiserver accepts from an external signer: alg, kid and typ "JWT", nothing else.</summary>
public static class JwtHeader
{
    public static string Encode(string algorithm, string kid)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("alg", algorithm);
            json.WriteString("kid", kid);
            json.WriteString("typ", "JWT");
            json.WriteEndObject();
        }

        return Base64Url.Encode(buffer.ToArray());
    }
}
