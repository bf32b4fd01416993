namespace KeyRotator.Operator.Vault;

/// <summary>Chooses the key store named by spec.vault.provider.</summary>
public sealed class KeyStoreSelector(IEnumerable<IKeyStore> stores, KeyRotator.Operator.Observability.OperatorMetrics metrics)
{
    private readonly Dictionary<string, IKeyStore> _stores = stores.ToDictionary(s => s.Provider, s => (IKeyStore)new MeasuredKeyStore(s, metrics), StringComparer.Ordinal);

    public IKeyStore For(string? provider)
    {
        var name = provider ?? "Kubernetes";
        return _stores.TryGetValue(name, out var store)
            ? store
            : throw new KeyStoreException($"the {name} vault provider is not available in this operator build; available: {string.Join(", ", _stores.Keys)}")
            {
                Reason = "ProviderUnavailable",
            };
    }
}
