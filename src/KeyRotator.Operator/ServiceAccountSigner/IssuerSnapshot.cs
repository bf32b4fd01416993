using Google.Protobuf;
using KeyRotator.Core.Lifecycle;

namespace KeyRotator.Operator.ServiceAccountSigner;

/// <summary>
/// One reading of the issuer set, ready to answer from: what <see cref="IssuerServing"/> decided, the
/// keys as PKIX DER, the encoded token header and the signing operation of the signing key. The private
/// key (Kubernetes provider) stays inside <see cref="Signature"/>'s closure; ToString names only kids.
/// </summary>
public sealed class IssuerSnapshot
{
    public required IssuerServing Serving { get; init; }

    /// <summary>When the set, its JWKS and its signing Secret were read from the API server.</summary>
    public required DateTimeOffset ReadAt { get; init; }

    /// <summary>Kid and PKIX DER of every key FetchKeys returns.</summary>
    public IReadOnlyList<(string Kid, ByteString Der)> Keys { get; init; } = [];

    /// <summary>base64url of {"alg","kid","typ":"JWT"} for the signing key; null when Sign cannot sign.</summary>
    public string? EncodedHeader { get; init; }

    /// <summary>Signs a JWS signing input with the signing key (in process or in the vault); null when Sign cannot sign.</summary>
    public Func<byte[], CancellationToken, Task<byte[]>>? Signature { get; init; }

    /// <summary>Why Sign cannot sign beyond what Serving says (the signing Secret's key does not match its kid, …).</summary>
    public string? SignProblem { get; init; }

    public override string ToString() =>
        $"issuer snapshot read at {ReadAt:O}: signing {Serving.SigningKey?.Kid ?? "nothing"}, keys {string.Join(", ", Keys.Select(k => k.Kid))}";
}
