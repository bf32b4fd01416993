using System.Text.Json;
using k8s;
using k8s.Models;
using KeyRotator.Core.Jose;
using KeyRotator.Operator.Entities;
using KeyRotator.Operator.Kubernetes;

namespace KeyRotator.Operator.Publishing;

/// <summary>
/// Publishes the merged JWKS ConfigMap (and its copies in spec.jwks.targetNamespaces, and the optional
/// openid-configuration document) that verifiers mount.
/// </summary>
public sealed class JwksPublisher(ObjectWriter writer, IKubernetes kubernetes)
{
    public const string JwksKey = "jwks.json";
    public const string OpenIdConfigurationKey = "openid-configuration";

    public static string ConfigMapName(V1Alpha1SigningKeySet set) => set.Spec.Jwks?.ConfigMapName ?? $"{set.Metadata.Name}-jwks";

    /// <summary>The namespaces that hold a copy: the set's own first.</summary>
    public static IReadOnlyList<string> Namespaces(V1Alpha1SigningKeySet set) =>
        new[] { set.Metadata.NamespaceProperty }.Concat(set.Spec.Jwks?.TargetNamespaces ?? []).Distinct(StringComparer.Ordinal).ToList();

    /// <summary>Writes every copy that differs; returns how many were written.</summary>
    public async Task<int> PublishAsync(V1Alpha1SigningKeySet set, JwksDocument jwks, string? activeKid, CancellationToken cancellationToken)
    {
        var written = 0;
        foreach (var ns in Namespaces(set))
        {
            if (await writer.ApplyConfigMapAsync(Desired(set, ns, jwks, activeKid), cancellationToken))
                written++;
        }

        return written;
    }

    /// <summary>
    /// Deletes JWKS copies of this set that are no longer wanted (a namespace dropped from
    /// targetNamespaces, or the set going away when <paramref name="keep"/> is empty).
    /// <paramref name="searchNamespaces"/> empty means the whole cluster.
    /// </summary>
    public async Task<int> RemoveCopiesAsync(V1Alpha1SigningKeySet set, IReadOnlyCollection<string> keep, IEnumerable<string> searchNamespaces, CancellationToken cancellationToken)
    {
        var selector = $"{Labels.ManagedBySelector},{Labels.SetName}={set.Metadata.Name},{Labels.SetNamespace}={set.Metadata.NamespaceProperty},{Labels.Role}=jwks";
        var scopes = searchNamespaces.ToList();
        var found = new List<V1ConfigMap>();
        if (scopes.Count == 0)
            found.AddRange((await kubernetes.CoreV1.ListConfigMapForAllNamespacesAsync(labelSelector: selector, cancellationToken: cancellationToken)).Items);
        else
            foreach (var ns in scopes)
                found.AddRange((await kubernetes.CoreV1.ListNamespacedConfigMapAsync(ns, labelSelector: selector, cancellationToken: cancellationToken)).Items);

        var removed = 0;
        foreach (var stale in found.Where(cm => !keep.Contains(cm.Metadata.NamespaceProperty) || cm.Metadata.Name != ConfigMapName(set)))
        {
            await writer.DeleteConfigMapAsync(stale.Metadata.NamespaceProperty, stale.Metadata.Name, cancellationToken);
            removed++;
        }

        return removed;
    }

    public static V1ConfigMap Desired(V1Alpha1SigningKeySet set, string ns, JwksDocument jwks, string? activeKid)
    {
        var data = new Dictionary<string, string> { [JwksKey] = jwks.ToJson() };
        if (set.Spec.Jwks?.Issuer is { Length: > 0 } issuer)
            data[OpenIdConfigurationKey] = OpenIdConfiguration(issuer, set.Spec.Algorithm);

        var annotations = new Dictionary<string, string> { [Labels.ContentHashAnnotation] = jwks.ContentHash() };
        if (activeKid is not null)
            annotations[Labels.ActiveKidAnnotation] = activeKid;

        return new V1ConfigMap
        {
            Metadata = new V1ObjectMeta
            {
                Name = ConfigMapName(set),
                NamespaceProperty = ns,
                Labels = Labels.For(set.Metadata.NamespaceProperty, set.Metadata.Name, "jwks"),
                Annotations = annotations,
                // Owner references cannot cross namespaces; copies elsewhere are cleaned up by the finalizer.
                OwnerReferences = ns == set.Metadata.NamespaceProperty ? [OwnerReferenceFor(set)] : null,
            },
            Data = data,
        };
    }

    public static V1OwnerReference OwnerReferenceFor(V1Alpha1SigningKeySet set) => V1Alpha1SigningKeySet.OwnerReference(set.Metadata.Name, set.Metadata.Uid);

    private static string OpenIdConfiguration(string issuer, string algorithm)
    {
        var trimmed = issuer.TrimEnd('/');
        return JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["issuer"] = issuer,
            ["jwks_uri"] = $"{trimmed}/.well-known/jwks.json",
            ["id_token_signing_alg_values_supported"] = new[] { algorithm },
        }) + "\n";
    }
}
