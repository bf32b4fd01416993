using k8s;
using k8s.Models;
using KeyRotator.Operator.Runtime;

namespace KeyRotator.AotProbe;

/// <summary>
/// The one read the PKCS#11 key store makes of the API server: the PIN Secret. Everything else is
/// refused, so the probe shows that nothing but the token is reached.
/// </summary>
internal sealed class PinSecretClient(string secretName, string key, string pin) : IObjectClient
{
    public Task<T?> ReadAsync<T>(string? ns, string name, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        if (typeof(T) != typeof(V1Secret) || name != secretName)
            return Task.FromResult<T?>(null);
        var secret = new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns },
            Data = new Dictionary<string, byte[]> { [key] = System.Text.Encoding.UTF8.GetBytes(pin) },
        };
        return Task.FromResult((T?)(object)secret);
    }

    public Task<T?> GetAsync<T>(string? ns, string name, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta> => throw Unused();

    public (bool Known, T? Item) Peek<T>(string? ns, string name)
        where T : class, IKubernetesObject<V1ObjectMeta> => throw Unused();

    public Task<IReadOnlyList<T>> ListAsync<T>(IReadOnlyCollection<string> namespaces, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta> => throw Unused();

    public Task<T> CreateAsync<T>(T desired, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta> => throw Unused();

    public Task<T> ReplaceAsync<T>(T desired, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta> => throw Unused();

    public Task<T> ReplaceStatusAsync<T>(T desired, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta> => throw Unused();

    public Task DeleteAsync<T>(string ns, string name, string uid, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta> => throw Unused();

    private static NotSupportedException Unused() => new("the PKCS#11 probe reads only the PIN Secret");
}
