using System.Diagnostics;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Operator.Observability;

namespace KeyRotator.Operator.Vault;

/// <summary>Times every vault request into keyrotator_vault_request_duration_seconds{provider,operation,outcome}.</summary>
public sealed class MeasuredKeyStore(IKeyStore inner, OperatorMetrics metrics) : IKeyStore, IPreparesKeys
{
    public string Provider => inner.Provider;

    public bool IsReady(KeySetContext set, long generation) => inner is not IPreparesKeys keys || keys.IsReady(set, generation);

    public Task<IReadOnlyList<StoredKey>> ListAsync(KeySetContext set, CancellationToken cancellationToken) =>
        Measure("list", () => inner.ListAsync(set, cancellationToken));

    public Task<StoredKey> CreateAsync(KeySetContext set, long generation, CancellationToken cancellationToken) =>
        Measure("create", () => inner.CreateAsync(set, generation, cancellationToken));

    public Task<SignerMaterial> GetSignerMaterialAsync(KeySetContext set, StoredKey key, CancellationToken cancellationToken) =>
        Measure("get_signer", () => inner.GetSignerMaterialAsync(set, key, cancellationToken));

    public Task<IReadOnlyList<SignerMaterial>> GetSignerMaterialsAsync(KeySetContext set, IReadOnlyList<StoredKey> keys, CancellationToken cancellationToken) =>
        Measure("get_signer", () => inner.GetSignerMaterialsAsync(set, keys, cancellationToken));

    public Task DisableAsync(KeySetContext set, string kid, CancellationToken cancellationToken) =>
        Measure("disable", async () => { await inner.DisableAsync(set, kid, cancellationToken); return true; });

    public Task DeleteAsync(KeySetContext set, string kid, CancellationToken cancellationToken) =>
        Measure("delete", async () => { await inner.DeleteAsync(set, kid, cancellationToken); return true; });

    public Task RemoveSetAsync(KeySetContext set, bool deleteKeys, CancellationToken cancellationToken) =>
        Measure("remove_set", async () => { await inner.RemoveSetAsync(set, deleteKeys, cancellationToken); return true; });

    private async Task<T> Measure<T>(string operation, Func<Task<T>> call)
    {
        var clock = Stopwatch.StartNew();
        var outcome = "error";
        try
        {
            var result = await call();
            outcome = "success";
            return result;
        }
        catch (k8s.Autorest.HttpOperationException e)
        {
            // The Kubernetes store's Secrets: the API server refused a request (a name derived from the
            // set that is too long, a quota, RBAC). The set says which request and what the answer was.
            throw new KeyStoreException($"the {Provider} key store could not {operation.Replace('_', ' ')}: {KeyRotator.Operator.Kubernetes.ApiAnswer.Describe(e)}", e)
            {
                Reason = "KeyStoreRefused",
            };
        }
        catch (Exception e) when (e is not (KeyStoreException or OperationCanceledException))
        {
            // A vault library threw something of its own: name the vault, the operation and the error, so
            // that it reaches the set's status and an Event instead of only a log line.
            throw new KeyStoreException($"the {Provider} vault failed to {operation.Replace('_', ' ')}: {e.GetType().Name}: {(e.Message.Length > 300 ? e.Message[..300] + "…" : e.Message)}", e)
            {
                Reason = "VaultError",
            };
        }
        finally
        {
            metrics.VaultRequestDuration.WithLabels(Provider, operation, outcome).Observe(clock.Elapsed.TotalSeconds);
        }
    }
}
