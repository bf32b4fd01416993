using System.Collections.Concurrent;
using System.Text;
using Azure.Core;
using Azure.Storage.Blobs;
using k8s.Autorest;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Resources;
using KeyRotator.Model.Time;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Observability;
using KeyRotator.Operator.Runtime;

namespace KeyRotator.Operator.Publishing;

/// <summary>
/// The external publication targets (ClusterPublishTargets) and who may use them. A target is written
/// only for a set in a namespace its spec.namespaces grants; its credentials (a connection string in a
/// platform-owned Secret, or the operator's Azure identity) never come from the set.
/// </summary>
public sealed class PublishTargets(IObjectClient client, TimeProvider time, TokenCredential credential, OperatorMetrics metrics) : IDisposable
{
    /// <summary>A target created or withdrawn takes effect within this (plus the next reconcile of the set).</summary>
    private static readonly TimeSpan ListAge = TimeSpan.FromSeconds(2);

    private readonly SemaphoreSlim _listing = new(1, 1);
    private readonly ConcurrentDictionary<string, (string Version, BlobContainerClient Container)> _containers = new(StringComparer.Ordinal);

    /// <summary>
    /// A connection string is read again after this (or at once after the storage service refused it): a set
    /// with spec.publish does not cost a Secret GET on every reconcile, and a rotated account key is picked up.
    /// </summary>
    private static readonly TimeSpan SecretAge = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, (NamespacedSecretKeySelector Reference, DateTimeOffset ReadAt, string Version, string Value)> _connectionStrings = new(StringComparer.Ordinal);

    /// <summary>One pipeline per target name, kept across new credentials: a throttled account stays throttled for every client of it.</summary>
    private readonly ConcurrentDictionary<string, TargetPipeline> _pipelines = new(StringComparer.Ordinal);
    private (DateTimeOffset At, IReadOnlyList<V1Alpha1ClusterPublishTarget> Targets) _listed = (DateTimeOffset.MinValue, []);

    /// <summary>
    /// Why the set in <paramref name="ns"/> may not publish where <paramref name="publish"/> says (reason and
    /// message), one per entry that may not (every entry is checked): a target that does not exist or is not
    /// granted, or one whose cache allowance means a key pre-published for <paramref name="prePublish"/> (when
    /// the spec says how long) could sign before relying parties have it. Empty when it may.
    /// </summary>
    public async Task<IReadOnlyList<HoldProblem>> RefusalsAsync(string ns, IList<PublishSpec>? publish, JwksSpec? jwks, TimeSpan? prePublish, CancellationToken cancellationToken)
    {
        if (publish is not { Count: > 0 })
            return [];
        IReadOnlyList<V1Alpha1ClusterPublishTarget> targets;
        try
        {
            targets = await ListAsync(cancellationToken);
        }
        catch (HttpOperationException e)
        {
            return [new(Reasons.PublishTargetNotGranted, $"the operator could not read ClusterPublishTargets ({ApiAnswer.Describe(e)})")];
        }

        var refusals = new List<HoldProblem>();
        foreach (var entry in publish)
        {
            var target = targets.FirstOrDefault(t => t.Metadata.Name == entry.Target);
            if (target?.Spec.AzureBlob is null)
                refusals.Add(new(Reasons.PublishTargetNotGranted, $"spec.publish names ClusterPublishTarget {entry.Target}, which does not exist; ask the platform team for one with spec.azureBlob whose spec.namespaces include {ns}"));
            else if (Refusal(target, ns, entry, jwks) is { } refused)
                refusals.Add(new(Reasons.PublishTargetNotGranted, refused));
            else if (prePublish is { } wait && ShortOfCacheAllowance(target, wait) is { } shortfall)
                refusals.Add(new(Reasons.InvalidSpec, shortfall));
        }

        return refusals;
    }

    /// <summary>Why <paramref name="target"/> does not let a set in <paramref name="ns"/> publish <paramref name="entry"/> (checked on every use), or null.</summary>
    public static string? Refusal(V1Alpha1ClusterPublishTarget target, string ns, PublishSpec entry, JwksSpec? jwks) =>
        PublishGrant.Refusal(target.Metadata.Name, target.Spec, ns, entry, jwks?.Issuer is { Length: > 0 } ? jwks.Issuer : null,
            jwks?.Issuer is { Length: > 0 } ? JwksPublisher.JwksUri(jwks) : null);

    /// <summary>
    /// What is wrong when a key pre-published for <paramref name="prePublish"/> may reach relying parties behind
    /// the target's cache allowance only after it signs: by how much the spec is short, and what to set.
    /// </summary>
    public static string? ShortOfCacheAllowance(V1Alpha1ClusterPublishTarget target, TimeSpan prePublish)
    {
        if (string.IsNullOrEmpty(target.Spec.CacheAllowance))
            return null;
        if (!GoDuration.TryParse(target.Spec.CacheAllowance, out var allowance) || allowance < TimeSpan.Zero)
            return $"ClusterPublishTarget {target.Metadata.Name} has spec.cacheAllowance \"{target.Spec.CacheAllowance}\", which is not a duration; ask the platform team to correct it (e.g. 5m)";
        var reach = CachePolicy.Reach(prePublish, allowance);
        if (prePublish >= reach)
            return null;
        var minimum = CachePolicy.MinimumPrePublish(allowance);
        return $"spec.rotation.prePublish {GoDuration.Format(prePublish)} is {GoDuration.Format(reach - prePublish)} short for ClusterPublishTarget {target.Metadata.Name}: "
            + $"relying parties may see a new document up to {GoDuration.Format(reach)} after it is written (its cacheAllowance {GoDuration.Format(allowance)} "
            + $"plus the documents' max-age {GoDuration.Format(CachePolicy.MaxAge(prePublish))}), so a key could sign before they have it; raise prePublish to at least {GoDuration.Format(minimum)}";
    }

    /// <summary>The target named <paramref name="name"/>, or null.</summary>
    public async Task<V1Alpha1ClusterPublishTarget?> FindAsync(string name, CancellationToken cancellationToken) =>
        (await ListAsync(cancellationToken)).FirstOrDefault(t => t.Metadata.Name == name);

    /// <summary>
    /// The container client of an Azure Blob target, made once per version of the target and of its
    /// connection-string Secret. Throws <see cref="PublishTargetException"/> when the credentials cannot be read.
    /// </summary>
    public async Task<BlobContainerClient> ContainerAsync(V1Alpha1ClusterPublishTarget target, CancellationToken cancellationToken)
    {
        var blob = target.Spec.AzureBlob!;
        string? connectionString = null;
        var version = target.Metadata.ResourceVersion ?? "";
        var key = target.Metadata.Name;
        if (blob.ConnectionStringSecretRef is { } reference)
        {
            if (_connectionStrings.TryGetValue(key, out var read) && read.Reference == reference && time.GetUtcNow() - read.ReadAt < SecretAge)
            {
                connectionString = read.Value;
                version += "/" + read.Version;
            }
            else
            {
                var secret = await client.ReadAsync<V1Secret>(reference.Namespace, reference.Name, cancellationToken)
                    ?? throw new PublishTargetException($"the connection-string Secret {reference.Namespace}/{reference.Name} of ClusterPublishTarget {target.Metadata.Name} does not exist");
                if (secret.Data?.TryGetValue(reference.Key, out var bytes) != true)
                    throw new PublishTargetException($"Secret {reference.Namespace}/{reference.Name} has no key \"{reference.Key}\" holding the connection string of ClusterPublishTarget {target.Metadata.Name}");
                connectionString = Encoding.UTF8.GetString(bytes!).Trim();
                version += "/" + secret.Metadata.ResourceVersion;
                _connectionStrings[key] = (reference, time.GetUtcNow(), secret.Metadata.ResourceVersion ?? "", connectionString);
            }
        }

        if (_containers.TryGetValue(key, out var known) && known.Version == version)
            return known.Container;
        BlobContainerClient container;
        var options = _pipelines.GetOrAdd(key, name => new TargetPipeline(name, metrics, time)).Options;
        try
        {
            container = connectionString is not null
                ? new BlobContainerClient(connectionString, blob.Container, options)
                : new BlobContainerClient(new Uri($"{blob.Endpoint.TrimEnd('/')}/{blob.Container}"), credential, options);
        }
        catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException)
        {
            // The message of a connection-string parse failure may quote the string: never repeat it.
            throw new PublishTargetException($"the connection string of ClusterPublishTarget {target.Metadata.Name} is not a valid storage connection string");
        }

        _containers[key] = (version, container);
        return container;
    }

    /// <summary>The storage service refused the target's credentials: its connection string is read again on the next use.</summary>
    public void CredentialsRefused(string target) => _connectionStrings.TryRemove(target, out _);

    private async Task<IReadOnlyList<V1Alpha1ClusterPublishTarget>> ListAsync(CancellationToken cancellationToken)
    {
        if (time.GetUtcNow() - _listed.At < ListAge)
            return _listed.Targets;
        await _listing.WaitAsync(cancellationToken);
        try
        {
            if (time.GetUtcNow() - _listed.At < ListAge)
                return _listed.Targets;
            _listed = (time.GetUtcNow(), await client.ListAsync<V1Alpha1ClusterPublishTarget>([], new Dictionary<string, string>(), cancellationToken));
            return _listed.Targets;
        }
        finally
        {
            _listing.Release();
        }
    }

    public void Dispose() => _listing.Dispose();
}

/// <summary>A publication target cannot be used as it is configured (its credentials are missing or malformed).</summary>
public sealed class PublishTargetException(string message) : Exception(message);
