using k8s.Autorest;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Configuration;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Publishing;
using KeyRotator.Operator.Runtime;
using KeyRotator.Operator.Vault;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.Controllers;

/// <summary>
/// A deleted set: its JWKS copies and signing Secret go (only objects that belong to it), its keys are
/// deleted or retained per deletionPolicy, and the finalizer comes off only when that succeeded, or when
/// nobody could ever do it (no usable spec.vault, a vault not granted, a PIN that is gone), which an Event says.
/// </summary>
public sealed partial class SetFinalizer(
    SetClient sets,
    SetReporter reporter,
    KeyStoreSelector stores,
    VaultGrants grants,
    JwksPublisher jwksPublisher,
    SigningSecretPublisher signingPublisher,
    ObjectWriter writer,
    ExternalPublisher external,
    SetMemory memory,
    IOptions<OperatorOptions> options,
    ILogger<SetFinalizer> logger)
{
    /// <summary>Retry (true) while the keys could not be handled; the finalizer stays meanwhile.</summary>
    public async Task<bool> FinalizeAsync(V1Alpha1SigningKeySet set, RotationPolicyOptions policyOptions)
    {
        if (set.Metadata.Finalizers?.Contains(Labels.Finalizer) != true)
            return false;

        // CancellationToken.None: a cancelled clean-up must not strand the set with its finalizer.
        var none = CancellationToken.None;
        var ns = set.Metadata.NamespaceProperty;
        var owner = SetIdentity.Of(set);
        try
        {
            foreach (var copy in JwksPublisher.Namespaces(set))
                await writer.DeleteOwnedConfigMapAsync(copy, JwksPublisher.ConfigMapName(set), owner, none);
            await jwksPublisher.RemoveCopiesAsync(set, [], options.Value.WatchNamespaces, none);
            await writer.DeleteOwnedSecretAsync(ns, SigningSecretPublisher.SecretName(set), owner, none);
            await signingPublisher.RemoveStaleAsync(set, none);
        }
        catch (HttpOperationException e)
        {
            // A refusal is a value, not an exception: status says which delete failed, and the finalizer stays.
            await reporter.FailedAsync(set, Reasons.PublishFailed, $"The set is being deleted but its JWKS ConfigMaps or signing Secret could not be deleted: {ApiAnswer.Describe(e)}; the finalizer stays until this succeeds", none);
            return true;
        }

        if (await external.RemoveAsync(set, none) is { } notRemoved)
        {
            if (notRemoved.Kind == StepFailureKind.Held)
            {
                // The target is gone or no longer granted: the operator may not touch it, and waiting would not change that.
                await reporter.WarnAsync(set, Reasons.DocumentsNotRemoved, $"The set was deleted without removing its published documents: {notRemoved.Message}; remove them by hand", none);
            }
            else
            {
                // Keep the finalizer: a JWKS left at a public URL would go on vouching for the set's keys.
                await reporter.FailedAsync(set, notRemoved.Reason, $"The set is being deleted but its published documents could not be removed: {notRemoved.Message}; the finalizer stays until this succeeds", none);
                return true;
            }
        }

        var deleteKeys = set.Spec.DeletionPolicy == "Delete";
        if (KeySetSpecRules.RemovalContext(set, policyOptions) is not { } context)
        {
            // The vault section itself is unusable: there is no vault to clean up.
            await reporter.WarnAsync(set, Reasons.KeysNotRemoved,
                "The set was deleted, but spec.vault does not say where its keys are, so the vault was not cleaned up; remove them by hand if deletionPolicy was Delete", none);
        }
        else if (await grants.RefusalAsync(ns, set.Spec.Vault, none) is { } refusal)
        {
            // Deleting a set must not reach a vault its namespace may not use (another team's keys).
            await reporter.WarnAsync(set, Reasons.KeysNotRemoved, $"The set was deleted without touching its vault: {refusal.Message}", none);
        }
        else
        {
            try
            {
                await stores.For(set.Spec.Vault?.Provider).RemoveSetAsync(context, deleteKeys, none);
            }
            catch (KeyStoreException e) when (e.Reason == "PinSecretMissing")
            {
                // Without the PIN nobody can log in to clean up, and keeping the set would not bring the PIN back.
                await reporter.WarnAsync(set, Reasons.KeysNotRemoved,
                    $"The set was deleted without touching its keys on the token: {e.Message}. Its keys (CKA_LABEL kr:{set.Metadata.Uid}:*) stay on the token; remove them with the token's tools if deletionPolicy was Delete", none);
            }
            catch (KeyStoreException e)
            {
                // Keep the finalizer: the keys must not be left behind silently. Status and an Event say why.
                await reporter.FailedAsync(set, e.Reason,
                    $"The set is being deleted but its keys could not be {(deleteKeys ? "deleted" : "retained")}: {e.Message}; the finalizer stays until this succeeds", none);
                return true;
            }
        }

        await sets.RemoveFinalizerAsync(set);
        memory.Forget(new SetKey(ns, set.Metadata.Name), set.Metadata.Uid);
        LogFinalized(logger, ns, set.Metadata.Name, set.Spec.DeletionPolicy ?? "Retain");
        return false;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Namespace}/{Name}: deleted; keys handled per deletionPolicy {Policy}")]
    private static partial void LogFinalized(ILogger logger, string @namespace, string name, string policy);
}
