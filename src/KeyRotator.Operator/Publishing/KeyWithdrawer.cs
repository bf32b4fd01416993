using System.Text;
using k8s.Autorest;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Configuration;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Runtime;
using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.Publishing;

/// <summary>
/// Takes kids out of what verifiers and signers read, using only what is already published: every JWKS
/// copy this set owns and its signing Secret. It only removes; it needs no vault, no valid spec and no
/// other copy to be healthy, so revocation and retirement never wait for anything (invariant 10).
/// </summary>
public sealed class KeyWithdrawer(IObjectClient client, ObjectWriter writer, JwksPublisher publisher, ExternalPublisher external, IOptions<OperatorOptions> options)
{
    private static readonly string[] ActiveFields = [SigningSecretPublisher.KidKey, SigningSecretPublisher.AlgKey, SigningSecretPublisher.PrivateKeyKey, SigningSecretPublisher.KeyReferenceKey];
    private static readonly string[] NextFields = [SigningSecretPublisher.NextKidKey, SigningSecretPublisher.NextPrivateKeyKey, SigningSecretPublisher.NextKeyReferenceKey];

    /// <summary>
    /// Removes <paramref name="kids"/> from every JWKS copy and the signing Secret the set owns. Copies are
    /// found by the set's UID, not by the current spec: a copy the spec no longer names (dropped from
    /// targetNamespaces, or under an earlier configMapName) is deleted, because nothing would keep it
    /// current; a copy the spec still names is emptied of the kids (a namespace that withdrew its opt-in
    /// loses it at the next reconcile that can publish). Every place is tried whatever the others answer; the
    /// first one that could not be written is the result (Degraded, PublishFailed), never an exception.
    /// </summary>
    public async Task<StepFailure?> WithdrawAsync(V1Alpha1SigningKeySet set, IReadOnlySet<string> kids, CancellationToken cancellationToken)
    {
        if (kids.Count == 0)
            return null;
        var owner = SetIdentity.Of(set);
        var name = JwksPublisher.ConfigMapName(set);
        var wanted = JwksPublisher.Namespaces(set);
        HttpOperationException? failed = null;
        IReadOnlyList<k8s.Models.V1ConfigMap> owned = [];
        try
        {
            owned = await publisher.FindCopiesAsync(set, options.Value.WatchNamespaces, cancellationToken);
        }
        catch (HttpOperationException e)
        {
            // The copies the spec names are still withdrawn from below.
            failed = e;
        }

        foreach (var dropped in owned.Where(cm => !wanted.Contains(cm.Metadata.NamespaceProperty) || cm.Metadata.Name != name))
        {
            try
            {
                await writer.DeleteOwnedConfigMapAsync(dropped.Metadata.NamespaceProperty, dropped.Metadata.Name, owner, cancellationToken);
            }
            catch (HttpOperationException e)
            {
                failed ??= e;
            }
        }

        foreach (var ns in wanted)
        {
            try
            {
                await WithdrawFromCopyAsync(set, ns, name, owner, kids, cancellationToken);
            }
            catch (HttpOperationException e)
            {
                // One copy that cannot be written must not keep a revoked key in the others or in the
                // signing Secret: carry on, and report the failure once everything else is done.
                failed ??= e;
            }
        }

        try
        {
            await WithdrawFromSigningSecretAsync(set, owner, kids, cancellationToken);
        }
        catch (HttpOperationException e)
        {
            failed ??= e;
        }

        // Relying parties outside the cluster: each target is tried whatever the others answer.
        var externalFailure = await external.WithdrawAsync(set, kids, cancellationToken);
        return failed is not null ? Failures.WithdrawalRefused(kids, ApiAnswer.Describe(failed)) : externalFailure;
    }

    private async Task WithdrawFromCopyAsync(V1Alpha1SigningKeySet set, string ns, string name, SetIdentity owner, IReadOnlySet<string> kids, CancellationToken cancellationToken)
    {
        var current = await client.ReadAsync<k8s.Models.V1ConfigMap>(ns, name, cancellationToken);
        if (current is null || !Ownership.IsOwnedBy(current.Metadata, owner)
            || current.Data?.TryGetValue(JwksPublisher.JwksKey, out var json) != true)
            return;
        JwksDocument published;
        try
        {
            published = JwksDocument.Parse(json!);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or FormatException or KeyNotFoundException or InvalidOperationException)
        {
            // Not a JWKS any more (edited by hand): an empty one trusts nothing, which is safe.
            published = new JwksDocument([]);
        }

        if (published.Keys.Count > 0 && !published.Keys.Any(k => kids.Contains(k.Kid)))
            return;
        await writer.ApplyConfigMapAsync(JwksPublisher.Desired(set, ns, new JwksDocument(published.Keys.Where(k => !kids.Contains(k.Kid)).ToList())), owner, cancellationToken);
    }

    private async Task WithdrawFromSigningSecretAsync(V1Alpha1SigningKeySet set, SetIdentity owner, IReadOnlySet<string> kids, CancellationToken cancellationToken)
    {
        var signing = await client.ReadAsync<k8s.Models.V1Secret>(set.Metadata.NamespaceProperty, SigningSecretPublisher.SecretName(set), cancellationToken);
        if (signing is null || !Ownership.IsOwnedBy(signing.Metadata, owner))
            return;
        var data = new Dictionary<string, byte[]>(signing.Data ?? new Dictionary<string, byte[]>());
        var changed = Remove(data, SigningSecretPublisher.KidKey, ActiveFields, kids) | Remove(data, SigningSecretPublisher.NextKidKey, NextFields, kids);
        if (!changed)
            return;
        signing.Data = data;
        if (Labels.Annotation(signing.Metadata, Labels.ActiveKidAnnotation) is { } annotated && kids.Contains(annotated))
            signing.Metadata.Annotations!.Remove(Labels.ActiveKidAnnotation);
        await writer.ReplaceOwnedSecretAsync(signing, owner, cancellationToken);
    }

    private static bool Remove(Dictionary<string, byte[]> data, string kidField, string[] fields, IReadOnlySet<string> kids)
    {
        if (!data.TryGetValue(kidField, out var kidBytes) || !kids.Contains(Encoding.UTF8.GetString(kidBytes)))
            return false;
        foreach (var field in fields)
            data.Remove(field);
        return true;
    }
}
