using System.Security.Cryptography;
using System.Text;
using k8s.Models;

namespace KeyRotator.Operator.Informers;

/// <summary>
/// Secrets are cached without their data: a replica keeps in memory only the private keys it is using at
/// the moment, never every managed Secret's keys (the standby included). What the cache keeps instead is
/// a SHA-256 digest of the data and type, enough to tell whether a Secret already holds what it should.
/// The digest rides on the cached copy as an annotation that exists only in this process:
/// <see cref="WithoutDigest"/> takes it off before anything built from a cached copy is written.
/// </summary>
public static class SecretData
{
    /// <summary>Only ever on cached copies, never on the API server.</summary>
    public const string DigestAnnotation = "keyrotator.io/cached-data-sha256";

    /// <summary>Replaces the Secret's data with its digest (in place) and returns it.</summary>
    public static V1Secret Strip(V1Secret secret)
    {
        if (secret.Metadata is null)
            return secret;
        Annotate(secret.Metadata, Digest(secret.Data, secret.Type));
        secret.Data = null;
        secret.StringData = null;
        return secret;
    }

    /// <summary>A data-less copy of <paramref name="secret"/> around <paramref name="metadata"/> (already a copy).</summary>
    public static V1Secret StrippedCopy(V1Secret secret, V1ObjectMeta metadata)
    {
        Annotate(metadata, DigestOf(secret));
        return new V1Secret { ApiVersion = secret.ApiVersion, Kind = secret.Kind, Metadata = metadata, Type = secret.Type, Immutable = secret.Immutable };
    }

    /// <summary>The digest of what the Secret holds: from a cached copy's annotation, or computed from data read from the API server.</summary>
    public static string DigestOf(V1Secret secret) =>
        secret.Metadata?.Annotations is { } annotations && annotations.TryGetValue(DigestAnnotation, out var digest)
            ? digest
            : Digest(secret.Data, secret.Type);

    /// <summary>Takes the cache's digest off metadata that is about to be written.</summary>
    public static V1ObjectMeta WithoutDigest(V1ObjectMeta metadata)
    {
        metadata.Annotations?.Remove(DigestAnnotation);
        return metadata;
    }

    /// <summary>SHA-256 over the type and every entry in ordinal key order; equal data gives equal digests.</summary>
    public static string Digest(IDictionary<string, byte[]>? data, string? type)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Append(hash, Encoding.UTF8.GetBytes(type ?? "Opaque"));
        foreach (var key in (data?.Keys ?? []).Order(StringComparer.Ordinal))
        {
            Append(hash, Encoding.UTF8.GetBytes(key));
            Append(hash, data![key] ?? []);
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static void Annotate(V1ObjectMeta metadata, string digest)
    {
        metadata.Annotations ??= new Dictionary<string, string>();
        metadata.Annotations[DigestAnnotation] = digest;
    }

    private static void Append(IncrementalHash hash, byte[] bytes)
    {
        Span<byte> length = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(length, bytes.Length);
        hash.AppendData(length);
        hash.AppendData(bytes);
    }
}
