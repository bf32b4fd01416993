using System.Collections.Concurrent;
using Azure;
using Azure.Storage.Blobs;
using k8s.Autorest;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Runtime;

namespace KeyRotator.Operator.Publishing;

/// <summary>
/// Publishes a set's documents to the targets of spec.publish (Azure Blob Storage) with the same bytes
/// as its JWKS ConfigMap, and takes kids out of them. A set's key counts as published only when every
/// target holds it: the reconcile publishes here after the ConfigMaps and before the signing Secret,
/// and a failure holds activation exactly like a missing ConfigMap copy.
/// </summary>
public sealed class ExternalPublisher(PublishTargets targets, TimeProvider time) : IRemembersSets
{
    /// <summary>Per set and blob: the set's UID and the ETag of the version last written or read in full (<see cref="BlobWriter.ApplyAsync"/>).</summary>
    private readonly ConcurrentDictionary<(string Ns, string Name, Uri Blob), (string Uid, ETag ETag)> _verified = new();

    public const string DiscoveryPath = ".well-known/openid-configuration";

    /// <summary>The blob names of the set's documents at one target: (ConfigMap key, blob name).</summary>
    public static IReadOnlyList<(string Key, string Blob)> Documents(PublishSpec publish, bool withDiscovery)
    {
        var path = publish.Path.Trim('/');
        var jwks = publish.Layout == "KubernetesIssuer" ? $"{path}/openid/v1/jwks" : $"{path}/.well-known/jwks.json";
        return withDiscovery
            ? [(JwksPublisher.JwksKey, jwks), (JwksPublisher.OpenIdConfigurationKey, $"{path}/{DiscoveryPath}")]
            : [(JwksPublisher.JwksKey, jwks)];
    }

    /// <summary>The Cache-Control of every document: the HTTP endpoint's rule (prePublish / 4, at most 5 minutes; 10 s while a revocation is recent).</summary>
    public static string CacheControl(TimeSpan maxAge) => $"public, max-age={(int)maxAge.TotalSeconds}";

    /// <summary>
    /// Writes the documents of <paramref name="desired"/> (the set's JWKS ConfigMap as it is about to be
    /// published) to every target: what each holds when all of them hold the documents, else why not.
    /// </summary>
    public async Task<(StepFailure? Failure, IReadOnlyList<ExternalTargetStatus> Held)> PublishAsync(
        V1Alpha1SigningKeySet set, V1ConfigMap desired, IEnumerable<KeyStatus>? keys, CancellationToken cancellationToken)
    {
        var cacheControl = CacheControl(CachePolicy.MaxAge(set.Spec.Rotation, keys, time.GetUtcNow()));
        var held = new List<ExternalTargetStatus>();
        var contentHash = desired.Metadata.Annotations?.TryGetValue(Labels.ContentHashAnnotation, out var annotated) == true ? annotated : "";
        foreach (var publish in set.Spec.Publish ?? [])
        {
            var documents = Documents(publish, desired.Data.ContainsKey(JwksPublisher.OpenIdConfigurationKey));
            DateTimeOffset? writtenAt = null;
            var failure = await OnTargetAsync(set, publish, async container =>
            {
                // Every name is checked before anything is written: a set that finds one of its documents taken
                // writes none of them (the first is checked by its own write).
                foreach (var (_, blob) in documents.Skip(1))
                {
                    if (!await BlobWriter.OwnedOrAbsentAsync(container, blob, set.Metadata.Uid, cancellationToken))
                        return NotOwned(container, blob, publish);
                }

                foreach (var (key, blob) in documents)
                {
                    var (result, _, lastModified, etag) = await BlobWriter.ApplyAsync(container, blob, desired.Data[key], cacheControl, set.Metadata.Uid, Verified(set, container, blob), cancellationToken);
                    Remember(set, container, blob, etag);
                    if (result == ApplyResult.NotOwned)
                        return NotOwned(container, blob, publish);

                    writtenAt = writtenAt is { } earlier && earlier > lastModified ? earlier : lastModified;
                }

                return null;
            }, cancellationToken);
            if (failure is not null)
                return (failure, []);
            held.Add(new ExternalTargetStatus { Target = publish.Target, Path = publish.Path, ContentHash = contentHash, WrittenAt = writtenAt });
        }

        return (null, held);
    }

    /// <summary>Takes <paramref name="kids"/> out of the JWKS at every target, from what each holds now; the first failure, after trying them all.</summary>
    public async Task<StepFailure?> WithdrawAsync(V1Alpha1SigningKeySet set, IReadOnlySet<string> kids, CancellationToken cancellationToken)
    {
        // Taking out a revoked kid makes the revocation recent (the plan's status will say so): the same brief
        // max-age the publication after it writes, so that it finds the documents unchanged.
        var maxAge = kids.Overlaps(set.Spec.RevokedKeyIds ?? [])
            ? CachePolicy.MaxAge(set.Spec.Rotation, [new KeyStatus { RevokedAt = time.GetUtcNow() }], time.GetUtcNow())
            : CachePolicy.MaxAge(set.Spec.Rotation, set.Status?.Keys, time.GetUtcNow());
        StepFailure? first = null;
        foreach (var publish in set.Spec.Publish ?? [])
        {
            var (_, blob) = Documents(publish, withDiscovery: false)[0];
            var failure = await OnTargetAsync(set, publish, async container =>
            {
                var client = container.GetBlobClient(blob);
                Azure.Storage.Blobs.Models.BlobDownloadResult current;
                try
                {
                    current = (await client.DownloadContentAsync(cancellationToken)).Value;
                }
                catch (RequestFailedException e) when (e.Status == 404)
                {
                    return null;
                }

                if (!BlobWriter.IsOwnedBy(current.Details.Metadata, set.Metadata.Uid))
                    return null;
                JwksDocument published;
                try
                {
                    published = JwksDocument.Parse(current.Content.ToString());
                }
                catch (Exception e) when (e is System.Text.Json.JsonException or FormatException or KeyNotFoundException or InvalidOperationException)
                {
                    published = new JwksDocument([]);
                }

                if (published.Keys.Count > 0 && !published.Keys.Any(k => kids.Contains(k.Kid)))
                    return null;
                var remaining = new JwksDocument([.. published.Keys.Where(k => !kids.Contains(k.Kid))]);
                var (_, _, _, etag) = await BlobWriter.ApplyAsync(container, blob, remaining.ToJson(), CacheControl(maxAge), set.Metadata.Uid, Verified(set, container, blob), cancellationToken);
                Remember(set, container, blob, etag);
                return null;
            }, cancellationToken);

            // Every target is tried, whatever the one before answered: a revoked kid must not stay anywhere the operator can reach.
            first ??= failure;
        }

        return first;
    }

    /// <summary>Deletes the set's documents at every target (a deleted set); blobs that are not the set's are left alone.</summary>
    public async Task<StepFailure?> RemoveAsync(V1Alpha1SigningKeySet set, CancellationToken cancellationToken)
    {
        StepFailure? first = null;
        foreach (var publish in set.Spec.Publish ?? [])
        {
            var failure = await OnTargetAsync(set, publish, async container =>
            {
                foreach (var (_, blob) in Documents(publish, withDiscovery: true))
                    await BlobWriter.DeleteOwnedAsync(container, blob, set.Metadata.Uid, cancellationToken);
                return null;
            }, cancellationToken);
            first ??= failure;
        }

        return first;
    }

    private static StepFailure NotOwned(BlobContainerClient container, string blob, PublishSpec publish) =>
        new(StepFailureKind.Held, Reasons.NameConflict,
            $"blob {container.Name}/{blob} of ClusterPublishTarget {publish.Target} was not written by this set (no keyrotator marker, or another set's); "
            + "KeyRotator does not overwrite it, and wrote none of the set's documents there: delete it, or choose another spec.publish path");

    public void Forget(SetKey set, string? uid)
    {
        foreach (var key in _verified.Keys.Where(k => k.Ns == set.Namespace && k.Name == set.Name))
            _verified.TryRemove(key, out _);
    }

    private ETag? Verified(V1Alpha1SigningKeySet set, BlobContainerClient container, string blob) =>
        _verified.TryGetValue((set.Metadata.NamespaceProperty, set.Metadata.Name, container.GetBlobClient(blob).Uri), out var known) && known.Uid == set.Metadata.Uid ? known.ETag : null;

    private void Remember(V1Alpha1SigningKeySet set, BlobContainerClient container, string blob, ETag? etag)
    {
        var key = (set.Metadata.NamespaceProperty, set.Metadata.Name, container.GetBlobClient(blob).Uri);
        if (etag is { } known)
            _verified[key] = (set.Metadata.Uid, known);
        else
            _verified.TryRemove(key, out _);
    }

    /// <summary>Acts on the target's container if the target exists and is granted to the set's namespace (checked on every use, never only when the set was admitted).</summary>
    private async Task<StepFailure?> OnTargetAsync(V1Alpha1SigningKeySet set, PublishSpec publish, Func<BlobContainerClient, Task<StepFailure?>> act, CancellationToken cancellationToken)
    {
        try
        {
            var target = await targets.FindAsync(publish.Target, cancellationToken);
            if (target?.Spec.AzureBlob is null)
                return new StepFailure(StepFailureKind.Held, Reasons.PublishTargetNotGranted, $"ClusterPublishTarget {publish.Target} does not exist (any more)");
            if (PublishTargets.Refusal(target, set.Metadata.NamespaceProperty, publish, set.Spec.Jwks) is { } refused)
                return new StepFailure(StepFailureKind.Held, Reasons.PublishTargetNotGranted, refused);
            return await act(await targets.ContainerAsync(target, cancellationToken));
        }
        catch (RequestFailedException e)
        {
            if (e.Status == 403)
                targets.CredentialsRefused(publish.Target);
            return new StepFailure(StepFailureKind.Degraded, Reasons.PublishFailed, $"could not publish to ClusterPublishTarget {publish.Target} (path {publish.Path}): {BlobWriter.Describe(e)}");
        }
        catch (AggregateException e) when (e.InnerExceptions.All(i => i is RequestFailedException))
        {
            // Azure.Core's retries ran out on transport failures (connection refused, timeouts): the last one says why.
            return new StepFailure(StepFailureKind.Degraded, Reasons.PublishFailed, $"could not publish to ClusterPublishTarget {publish.Target} (path {publish.Path}): {BlobWriter.Describe((RequestFailedException)e.InnerExceptions[^1])}");
        }
        catch (Azure.Identity.AuthenticationFailedException)
        {
            // Azure.Identity's text lists every credential it tried and their environments: not repeated, only what to do.
            return new StepFailure(StepFailureKind.Degraded, Reasons.PublishFailed,
                $"could not publish to ClusterPublishTarget {publish.Target}: the operator's Azure identity could not get a token for the storage account; "
                + "give the operator's service account a workload identity with the Storage Blob Data Contributor role on the container, or set the target's spec.azureBlob.connectionStringSecretRef");
        }
        catch (PublishTargetException e)
        {
            return new StepFailure(StepFailureKind.Degraded, Reasons.PublishFailed, $"could not publish to ClusterPublishTarget {publish.Target}: {e.Message}");
        }
        catch (HttpOperationException e)
        {
            return new StepFailure(StepFailureKind.Degraded, Reasons.PublishFailed, $"could not read what ClusterPublishTarget {publish.Target} needs: {ApiAnswer.Describe(e)}");
        }
        catch (HttpRequestException e)
        {
            return new StepFailure(StepFailureKind.Degraded, Reasons.PublishFailed, $"could not reach ClusterPublishTarget {publish.Target}: {e.HttpRequestError}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Azure.Core's network timeout: the storage service took the connection and never answered.
            return new StepFailure(StepFailureKind.Degraded, Reasons.PublishFailed, $"could not publish to ClusterPublishTarget {publish.Target} (path {publish.Path}): Azure Blob Storage did not answer in time");
        }
    }
}
