using System.Security.Cryptography;
using System.Text;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace KeyRotator.Operator.Publishing;

/// <summary>
/// Create-or-update of one document blob that belongs to one set, as <see cref="ObjectWriter"/> does for
/// ConfigMaps: the blob's metadata names the set (its UID) and the content's hash, so a converged
/// document costs one HEAD and no write; a blob without the marker, or another set's, is never
/// overwritten (<see cref="ApplyResult.NotOwned"/>); every write is conditional on what was read
/// (If-Match on the ETag, If-None-Match: * to create), so two replicas, a restore or a hand edit in
/// between are detected (412/409) and decided again, never overwritten blindly.
/// </summary>
public static class BlobWriter
{
    /// <summary>Metadata naming the set that wrote the blob (Azure metadata names are C# identifiers).</summary>
    public const string SetUidMetadata = "keyrotatorsetuid";

    /// <summary>Metadata holding the SHA-256 of the content written.</summary>
    public const string ContentHashMetadata = "keyrotatorsha256";

    private const int Attempts = 5;

    /// <summary>
    /// Makes the blob hold <paramref name="content"/>; the result, the hash the blob holds, when the storage
    /// service last changed it, and the ETag of the version that holds it. <paramref name="verified"/> is the
    /// ETag of the last version this writer wrote or read in full: the marker in a blob's metadata says what the
    /// operator meant to write, but only an unchanged ETag says nobody changed the bytes since (a restore of an
    /// earlier version, a hand edit that kept the metadata), so any other ETag is read and hashed again.
    /// </summary>
    public static async Task<(ApplyResult Result, string Hash, DateTimeOffset? LastModified, ETag? ETag)> ApplyAsync(
        BlobContainerClient container, string name, string content, string cacheControl, string setUid, ETag? verified, CancellationToken cancellationToken)
    {
        var hash = Hash(content);
        var blob = container.GetBlobClient(name);
        for (var attempt = 1; ; attempt++)
        {
            BlobProperties? existing;
            try
            {
                existing = (await blob.GetPropertiesAsync(cancellationToken: cancellationToken)).Value;
            }
            catch (RequestFailedException e) when (e.Status == 404)
            {
                existing = null;
            }

            if (existing is not null)
            {
                if (!IsOwnedBy(existing.Metadata, setUid))
                    return (ApplyResult.NotOwned, "", null, null);
                if (existing.Metadata.TryGetValue(ContentHashMetadata, out var held) && held == hash
                    && existing.ContentType == "application/json" && existing.CacheControl == cacheControl
                    && (existing.ETag == verified || await HoldsAsync(blob, hash, existing.ETag, cancellationToken)))
                    return (ApplyResult.Unchanged, hash, existing.LastModified, existing.ETag);
            }

            try
            {
                var uploaded = await blob.UploadAsync(BinaryData.FromString(content), new BlobUploadOptions
                {
                    HttpHeaders = new BlobHttpHeaders { ContentType = "application/json", CacheControl = cacheControl },
                    Metadata = new Dictionary<string, string> { [SetUidMetadata] = setUid, [ContentHashMetadata] = hash },
                    Conditions = existing is null ? new BlobRequestConditions { IfNoneMatch = ETag.All } : new BlobRequestConditions { IfMatch = existing.ETag },
                }, cancellationToken);
                return (ApplyResult.Written, hash, uploaded.Value.LastModified, uploaded.Value.ETag);
            }
            catch (RequestFailedException e) when (e.Status is 412 or 409 && attempt < Attempts)
            {
                // Someone wrote (or created) the blob since it was read: what is there now decides.
            }
        }
    }

    /// <summary>Whether the version <paramref name="etag"/> of the blob holds content of <paramref name="hash"/> (false when it changed since).</summary>
    private static async Task<bool> HoldsAsync(BlobClient blob, string hash, ETag etag, CancellationToken cancellationToken)
    {
        try
        {
            var current = (await blob.DownloadContentAsync(new BlobDownloadOptions { Conditions = new BlobRequestConditions { IfMatch = etag } }, cancellationToken)).Value;
            return Convert.ToHexStringLower(SHA256.HashData(current.Content.ToMemory().Span)) == hash;
        }
        catch (RequestFailedException e) when (e.Status is 404 or 412)
        {
            return false;
        }
    }

    /// <summary>Whether the blob is absent or the set's (by the marker): false when anyone else holds the name.</summary>
    public static async Task<bool> OwnedOrAbsentAsync(BlobContainerClient container, string name, string setUid, CancellationToken cancellationToken)
    {
        try
        {
            var existing = (await container.GetBlobClient(name).GetPropertiesAsync(cancellationToken: cancellationToken)).Value;
            return IsOwnedBy(existing.Metadata, setUid);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return true;
        }
    }

    /// <summary>Deletes the blob if it is the set's (by the marker, at the ETag read); false when a foreign blob holds the name.</summary>
    public static async Task<bool> DeleteOwnedAsync(BlobContainerClient container, string name, string setUid, CancellationToken cancellationToken)
    {
        var blob = container.GetBlobClient(name);
        BlobProperties existing;
        try
        {
            existing = (await blob.GetPropertiesAsync(cancellationToken: cancellationToken)).Value;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return true;
        }

        if (!IsOwnedBy(existing.Metadata, setUid))
            return false;
        try
        {
            await blob.DeleteAsync(DeleteSnapshotsOption.IncludeSnapshots, new BlobRequestConditions { IfMatch = existing.ETag }, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status is 404 or 412)
        {
            // Gone already, or rewritten since it was read: the next reconcile decides again.
        }

        return true;
    }

    /// <summary>Whether a blob's metadata names the set with UID <paramref name="setUid"/> as its writer (the only ownership a blob has).</summary>
    public static bool IsOwnedBy(IDictionary<string, string> metadata, string setUid) =>
        metadata.TryGetValue(SetUidMetadata, out var owner) && owner == setUid;

    /// <summary>The content as a blob's SHA-256 metadata holds it (lower-case hex).</summary>
    public static string Hash(string content) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(content)));

    /// <summary>What the storage service answered, for status and Events: the status code and its error code, never a credential.</summary>
    public static string Describe(RequestFailedException e) =>
        e.Status == 0
            ? $"Azure Blob Storage could not be reached ({e.InnerException?.Message ?? "no answer"})"
            : $"Azure Blob Storage answered {e.Status}{(e.ErrorCode is { Length: > 0 } code ? " " + code : "")}";
}
