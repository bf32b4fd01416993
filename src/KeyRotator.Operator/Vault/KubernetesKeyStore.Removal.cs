using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Kubernetes;

namespace KeyRotator.Operator.Vault;

/// <summary>A deleted set's key store: deleted under deletionPolicy Delete, else kept under another name, detached from the set.</summary>
public sealed partial class KubernetesKeyStore
{
    public async Task RemoveSetAsync(KeySetContext set, bool deleteKeys, CancellationToken cancellationToken)
    {
        var secret = await ReadAsync(set, cancellationToken);
        if (secret is null)
            return;
        try
        {
            if (!deleteKeys)
                await RetainAsync(set, secret, cancellationToken);
            await client.DeleteAsync<V1Secret>(set.Namespace, secret.Metadata.Name, secret.Metadata.Uid, cancellationToken);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
        }
        catch (HttpOperationException e)
        {
            throw Failure(deleteKeys ? "delete the key Secret" : "retain the key Secret", e);
        }
    }

    /// <summary>
    /// The name of the Secret a deleted set's keys are kept in under deletionPolicy Retain: readable for
    /// humans, no longer labelled as managed, so a set re-created under the same name starts with fresh
    /// keys and never adopts, publishes or signs with these.
    /// </summary>
    public static string RetainedSecretName(string setName, string uid) => $"{setName}-keyrotator-keys-retained-{uid[..Math.Min(8, uid.Length)]}";

    private async Task RetainAsync(KeySetContext set, V1Secret secret, CancellationToken cancellationToken)
    {
        var retained = new V1Secret
        {
            Metadata = new V1ObjectMeta
            {
                Name = RetainedSecretName(set.Name, set.Uid),
                NamespaceProperty = set.Namespace,
                Labels = new Dictionary<string, string> { [Labels.SetName] = set.Name, [Labels.SetNamespace] = set.Namespace, [Labels.Role] = "retained-keystore" },
                Annotations = new Dictionary<string, string> { [Labels.RetainedFromUidAnnotation] = set.Uid },
            },
            Type = "Opaque",
            Data = secret.Data,
        };
        try
        {
            await client.CreateAsync(retained, cancellationToken);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            // Kept by an earlier attempt of this finalizer (its delete had not happened yet); check that it is ours.
            var existing = await client.ReadAsync<V1Secret>(set.Namespace, retained.Metadata.Name, cancellationToken);
            if (existing is null)
                await client.CreateAsync(retained, cancellationToken); // gone again in between: keep it now
            else if (Labels.Annotation(existing.Metadata, Labels.RetainedFromUidAnnotation) != set.Uid)
                throw new KeyStoreException($"cannot retain the keys: Secret {set.Namespace}/{retained.Metadata.Name} exists and is not this set's; move it away") { Reason = Reasons.NameConflict };
        }
    }
}
