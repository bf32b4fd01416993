using System.Security.Cryptography;
using k8s;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Operator.Kubernetes;

namespace KeyRotator.Testing;

/// <summary>
/// Looks for private key material in everything an operator exposes that is not a Secret: log lines,
/// Events, status and ConfigMaps. It knows the actual private keys (given as PEM) and searches for
/// their bytes, as well as for the generic shapes (PEM headers, JWK private members).
/// </summary>
public sealed class SecretLeakScanner
{
    // "fake-entra-token-": the Entra ID tokens FakeTokenCredential hands to the Key Vault client.
    private static readonly string[] GenericMarkers = ["PRIVATE KEY", "fake-entra-token-", "\"d\":", "\"p\":", "\"q\":", "\"dp\":", "\"dq\":", "\"qi\":"];
    private readonly HashSet<string> _needles = [];
    private readonly Lock _gate = new();

    public int KnownKeys { get; private set; }

    /// <summary>Remembers a private key so that its bytes can be searched for.</summary>
    public void Learn(string pem)
    {
        if (string.IsNullOrEmpty(pem))
            return;
        lock (_gate)
            LearnLocked(pem);
    }

    private void LearnLocked(string pem)
    {
        var body = string.Concat(pem.Split('\n').Where(l => !l.StartsWith("-----", StringComparison.Ordinal))).Trim();
        // The PKCS#8 prefix is the same for every key of a curve; later PEM lines, the tail and the
        // private scalar are not.
        _needles.Add(body[^Math.Min(48, body.Length)..]);
        foreach (var line in pem.Split('\n').Where(l => !l.StartsWith("-----", StringComparison.Ordinal)).Skip(1).Where(l => l.Trim().Length >= 24))
            _needles.Add(line.Trim());
        var der = Convert.FromBase64String(body);
        byte[] d;
        try
        {
            using var ec = ECDsa.Create();
            ec.ImportPkcs8PrivateKey(der, out _);
            d = ec.ExportParameters(true).D!;
        }
        catch (CryptographicException)
        {
            using var rsa = RSA.Create();
            rsa.ImportPkcs8PrivateKey(der, out _);
            d = rsa.ExportParameters(true).D!;
        }

        if (_needles.Add(Base64Url.Encode(d)))
            KnownKeys++;
        _needles.Add(Convert.ToBase64String(d));
        _needles.Add(Convert.ToHexString(d));
    }

    /// <summary>Learns from a Secret value: a PEM, or a key-store entry whose "pkcs8" member holds one.</summary>
    public void LearnFromSecretValue(string value)
    {
        if (value.Contains("PRIVATE KEY", StringComparison.Ordinal))
        {
            Learn(value);
            return;
        }

        // A key-store entry is JSON (whose writer escapes '+' as \u002B): read it as JSON, not as text.
        if (!value.Contains("\"pkcs8\"", StringComparison.Ordinal))
            return;
        using var entry = System.Text.Json.JsonDocument.Parse(value);
        if (entry.RootElement.TryGetProperty("pkcs8", out var pkcs8) && pkcs8.GetString() is { } base64)
            Learn(System.Security.Cryptography.PemEncoding.WriteString("PRIVATE KEY", Convert.FromBase64String(base64)));
    }

    /// <summary>Every place in <paramref name="haystacks"/> where private material appears.</summary>
    public IReadOnlyList<string> Find(IEnumerable<(string Where, string Text)> haystacks)
    {
        var findings = new List<string>();
        string[] needles;
        lock (_gate)
            needles = [.. _needles];
        foreach (var (where, text) in haystacks)
        {
            foreach (var marker in GenericMarkers.Where(m => text.Contains(m, StringComparison.Ordinal)))
                findings.Add($"{where}: contains {marker}");
            foreach (var needle in needles.Where(n => text.Contains(n, StringComparison.OrdinalIgnoreCase)))
                findings.Add($"{where}: contains private key bytes ({needle[..8]}...)");
        }

        return findings;
    }

    /// <summary>Logs, Events, SigningKeySet status and managed ConfigMaps of <paramref name="namespaces"/>.</summary>
    public static async Task<List<(string Where, string Text)>> CollectAsync(IKubernetes admin, IEnumerable<string> namespaces, IEnumerable<string> logLines)
    {
        var haystacks = logLines.Select((line, i) => ($"log line {i}", line)).ToList();
        foreach (var ns in namespaces)
        {
            foreach (var ev in (await admin.CoreV1.ListNamespacedEventAsync(ns)).Items)
                haystacks.Add(($"Event {ns}/{ev.Metadata.Name}", ev.Message ?? ""));
            foreach (var cm in (await admin.CoreV1.ListNamespacedConfigMapAsync(ns, labelSelector: Labels.ManagedBySelector)).Items)
                haystacks.Add(($"ConfigMap {ns}/{cm.Metadata.Name}", KubernetesJson.Serialize(cm)));
            var sets = await new SigningKeySetClient(admin).ListAsync(ns);
            foreach (var set in sets.Items)
                haystacks.Add(($"SigningKeySet {ns}/{set.Metadata.Name} status", set.Status is null ? "" : KubernetesJson.Serialize(set.Status)));
        }

        return haystacks;
    }
}
