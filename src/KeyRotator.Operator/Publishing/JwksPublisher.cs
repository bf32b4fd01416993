using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Runtime;

namespace KeyRotator.Operator.Publishing;

/// <summary>
/// Publishes the merged JWKS ConfigMap (and its copies in spec.jwks.targetNamespaces, and the optional
/// openid-configuration document) that verifiers mount.
/// </summary>
public sealed class JwksPublisher(IObjectClient client, ObjectWriter writer)
{
    public const string JwksKey = JwksNames.JwksKey;
    public const string OpenIdConfigurationKey = JwksNames.OpenIdConfigurationKey;

    public static string ConfigMapName(V1Alpha1SigningKeySet set) => JwksNames.ConfigMapName(set);

    /// <summary>The namespaces that hold a copy: the set's own first.</summary>
    public static IReadOnlyList<string> Namespaces(V1Alpha1SigningKeySet set) =>
        new[] { set.Metadata.NamespaceProperty }.Concat(set.Spec.Jwks?.TargetNamespaces ?? []).Distinct(StringComparer.Ordinal).ToList();

    /// <summary>
    /// Splits spec.jwks.targetNamespaces into the namespaces that accept a copy from this set's namespace
    /// (annotation keyrotator.io/accept-jwks-from on the Namespace) and those skipped, with the reason.
    /// A tenant who may create a set in one namespace cannot make the operator write into another
    /// that has not opted in.
    /// </summary>
    public async Task<(IReadOnlyList<string> Accepted, IReadOnlyList<SkippedTarget> Skipped)> ResolveTargetsAsync(V1Alpha1SigningKeySet set, CancellationToken cancellationToken)
    {
        var source = set.Metadata.NamespaceProperty;
        var accepted = new List<string> { source };
        var skipped = new List<SkippedTarget>();
        foreach (var target in Namespaces(set).Skip(1))
        {
            V1Namespace? ns;
            try
            {
                ns = await client.ReadAsync<V1Namespace>(null, target, cancellationToken);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Forbidden)
            {
                skipped.Add(Skipped(target, "NamespaceUnreadable", $"the operator may not read namespace {target} to check that it accepts JWKS copies; grant it get on namespaces (the chart does)"));
                continue;
            }

            if (ns is null)
                skipped.Add(Skipped(target, "NamespaceNotFound", $"namespace {target} does not exist; create it (annotated {Labels.AcceptJwksFromAnnotation}: {source}) or remove it from spec.jwks.targetNamespaces"));
            else if (Accepts(ns, source))
                accepted.Add(target);
            else
                skipped.Add(Skipped(target, "NotAccepted", $"namespace {target} does not accept JWKS copies from {source}; its owner opts in with: kubectl annotate namespace {target} {Labels.AcceptJwksFromAnnotation}={source}"));
        }

        return (accepted, skipped);
    }

    public static SkippedTarget Skipped(string ns, string reason, string message) => new() { Namespace = ns, Reason = reason, Message = message };

    /// <summary>True when the Namespace's annotation lists <paramref name="source"/> (or "*").</summary>
    public static bool Accepts(V1Namespace ns, string source) =>
        ns.Metadata.Annotations?.TryGetValue(Labels.AcceptJwksFromAnnotation, out var list) == true
        && list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Any(n => n == "*" || n == source);

    /// <summary>Writes the JWKS into each namespace; what happened there, in order.</summary>
    public async Task<IReadOnlyList<(string Namespace, ApplyResult Result)>> PublishAsync(
        V1Alpha1SigningKeySet set, JwksDocument jwks, IEnumerable<string> namespaces, CancellationToken cancellationToken)
    {
        var results = new List<(string, ApplyResult)>();
        foreach (var ns in namespaces)
            results.Add((ns, await writer.ApplyConfigMapAsync(Desired(set, ns, jwks), SetIdentity.Of(set), cancellationToken)));
        return results;
    }

    /// <summary>
    /// Deletes JWKS copies of this set that are no longer wanted (a namespace dropped from
    /// targetNamespaces or no longer accepting copies, or the set going away when <paramref name="keep"/>
    /// is empty). Only copies that belong to this set's UID are touched.
    /// <paramref name="searchNamespaces"/> empty means the whole cluster.
    /// </summary>
    public async Task<int> RemoveCopiesAsync(V1Alpha1SigningKeySet set, IReadOnlyCollection<string> keep, IEnumerable<string> searchNamespaces, CancellationToken cancellationToken)
    {
        var owner = SetIdentity.Of(set);
        var removed = 0;
        foreach (var stale in (await FindCopiesAsync(set, searchNamespaces, cancellationToken)).Where(cm => !keep.Contains(cm.Metadata.NamespaceProperty) || cm.Metadata.Name != ConfigMapName(set)))
        {
            if (await writer.DeleteOwnedConfigMapAsync(stale.Metadata.NamespaceProperty, stale.Metadata.Name, owner, cancellationToken))
                removed++;
        }

        return removed;
    }

    /// <summary>
    /// Every JWKS ConfigMap this set owns (by its UID), wherever it is and whatever the current spec names:
    /// copies in namespaces since dropped from targetNamespaces, under an earlier configMapName, or in a
    /// namespace that withdrew its opt-in. <paramref name="searchNamespaces"/> empty means the whole cluster.
    /// </summary>
    public async Task<IReadOnlyList<V1ConfigMap>> FindCopiesAsync(V1Alpha1SigningKeySet set, IEnumerable<string> searchNamespaces, CancellationToken cancellationToken)
    {
        var found = await client.ListAsync<V1ConfigMap>([.. searchNamespaces], Labels.For(set.Metadata.NamespaceProperty, set.Metadata.Name, "jwks"), cancellationToken);
        var owner = SetIdentity.Of(set);
        return found.Where(cm => Ownership.IsOwnedBy(cm.Metadata, owner)).ToList();
    }

    /// <summary>
    /// The JWKS ConfigMap for <paramref name="ns"/>. It depends on the published keys only, not on which of them
    /// signs: a first key is written once, when it is published, and its activation changes nothing verifiers
    /// read (which key signs is in status and on the signing Secret, keyrotator.io/active-kid).
    /// </summary>
    public static V1ConfigMap Desired(V1Alpha1SigningKeySet set, string ns, JwksDocument jwks)
    {
        var data = new Dictionary<string, string> { [JwksKey] = jwks.ToJson() };
        if (set.Spec.Jwks?.Issuer is { Length: > 0 } issuer)
            data[OpenIdConfigurationKey] = DiscoveryDocument.Serialize(issuer, set.Spec.Algorithm, JwksUri(set.Spec.Jwks));

        var annotations = new Dictionary<string, string>
        {
            [Labels.ContentHashAnnotation] = jwks.ContentHash(),
            [Labels.SetUidAnnotation] = set.Metadata.Uid,
        };

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

    /// <summary>
    /// The discovery document's jwks_uri: spec.jwks.jwksUri, else "&lt;issuer&gt;/.well-known/jwks.json".
    /// From the spec only: a document that took it from a request could be poisoned in any shared cache.
    /// </summary>
    public static string JwksUri(JwksSpec jwks) =>
        jwks.JwksUri is { Length: > 0 } explicitUri ? explicitUri : $"{jwks.Issuer!.TrimEnd('/')}/.well-known/jwks.json";
}
