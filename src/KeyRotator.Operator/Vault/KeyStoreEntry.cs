using System.Text;
using System.Text.Json;
using k8s.Models;
using KeyRotator.Core.Lifecycle;

namespace KeyRotator.Operator.Vault;

/// <summary>One key in a set's key-store Secret (<see cref="KubernetesKeyStore"/>), stored as JSON under <c>gen-N.json</c>. Pkcs8 is null once the key is disabled.</summary>
internal sealed record KeyStoreEntry(string Kid, string Alg, long Generation, DateTimeOffset CreatedAt, bool Enabled, string Jwk, string? Pkcs8)
{
    public static string NameOf(long generation) => $"gen-{generation}.json";

    /// <summary>Every entry of the Secret, oldest generation first.</summary>
    public static IEnumerable<KeyStoreEntry> ReadAll(V1Secret secret) =>
        (secret.Data ?? new Dictionary<string, byte[]>())
            .Where(d => d.Key.StartsWith("gen-", StringComparison.Ordinal))
            .Select(d => JsonSerializer.Deserialize(d.Value, VaultJson.Default.KeyStoreEntry)!)
            .OrderBy(e => e.Generation);

    public byte[] ToBytes() => Encoding.UTF8.GetBytes(JsonSerializer.Serialize(this, VaultJson.Default.KeyStoreEntry));

    public StoredKey ToStoredKey(KeySetContext set) =>
        new(KeyRotator.Model.Jose.Jwk.Parse(Jwk), Generation, CreatedAt, $"secret:{set.Namespace}/{KubernetesKeyStore.SecretName(set.Name)}#{NameOf(Generation)}", Enabled);

    public override string ToString() => $"key {Kid} (generation {Generation})";
}
