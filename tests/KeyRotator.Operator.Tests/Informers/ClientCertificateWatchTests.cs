using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using k8s;
using k8s.Models;
using KeyRotator.Operator.Informers;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Informers;

/// <summary>
/// The watch reader authenticates as every other call of the client does. The shared control plane knows
/// only bearer tokens (as a pod's service account); a kubeconfig with a client certificate (kind, kubeadm)
/// needs a kube-apiserver that trusts a client CA, so this test starts one of its own.
/// </summary>
[Collection(HeavyLoad.Name)]
public sealed class ClientCertificateWatchTests
{
    [Fact]
    public async Task A_watch_authenticates_with_a_kubeconfigs_client_certificate()
    {
        var ct = TestContext.Current.CancellationToken;
        var directory = EnvtestDirectory.Create("client-ca");
        var now = DateTimeOffset.UtcNow;
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=keyrotator-test-client-ca", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        using var ca = caRequest.CreateSelfSigned(now.AddHours(-1), now.AddDays(1));
        var caFile = Path.Combine(directory, "client-ca.crt");
        await File.WriteAllTextAsync(caFile, ca.ExportCertificatePem(), ct);

        // system:masters: the user may watch anything; who it is comes from the certificate alone.
        using var userKey = RSA.Create(2048);
        var userRequest = new CertificateRequest("CN=watch-by-certificate, O=system:masters", userKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        userRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        using var user = userRequest.Create(ca, now.AddHours(-1), now.AddDays(1), RandomNumberGenerator.GetBytes(8));

        await using var plane = KubernetesEnvironment.WithApiServerFlags($"--client-ca-file={caFile}");
        await plane.InitializeAsync();
        var ns = await plane.CreateNamespaceAsync("client-cert", ct);
        await plane.Admin.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "seen" } }, ns, cancellationToken: ct);
        var kubeconfig = Path.Combine(directory, "client-cert.kubeconfig");
        await File.WriteAllTextAsync(kubeconfig, $"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: envtest
              cluster:
                server: {plane.AdminConfig.Host}
                insecure-skip-tls-verify: true
            users:
            - name: watch-by-certificate
              user:
                client-certificate-data: {Base64(user.ExportCertificatePem())}
                client-key-data: {Base64(userKey.ExportPkcs8PrivateKeyPem())}
            contexts:
            - name: envtest
              context:
                cluster: envtest
                user: watch-by-certificate
            current-context: envtest
            """, ct);
        using var client = new k8s.Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig));
        Assert.Null(client.Credentials);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        stop.CancelAfter(TimeSpan.FromSeconds(30));
        var first = await client.WatchAsync<V1ConfigMap>(WatchRequest.Core("configmaps", ns), cancellationToken: stop.Token).FirstAsync(stop.Token);

        Assert.Equal((WatchEventType.Added, "seen"), (first.Type, first.Object.Metadata.Name));
    }

    private static string Base64(string pem) => Convert.ToBase64String(Encoding.UTF8.GetBytes(pem));
}
