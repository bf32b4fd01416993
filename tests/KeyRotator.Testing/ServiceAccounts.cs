using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace KeyRotator.Testing;

/// <summary>Real service accounts and bound tokens from the TokenRequest API, as pods would get them.</summary>
public static class ServiceAccounts
{
    /// <summary>A token for <paramref name="name"/> in <paramref name="ns"/> (created if needed), optionally allowed to report failures there.</summary>
    public static async Task<string> TokenAsync(KubernetesEnvironment env, string ns, string name, string audience, bool grantReporter = false)
    {
        await IgnoreConflict(() => env.Admin.CoreV1.CreateNamespacedServiceAccountAsync(new V1ServiceAccount { Metadata = new V1ObjectMeta { Name = name } }, ns));
        if (grantReporter)
        {
            await IgnoreConflict(() => env.Admin.RbacAuthorizationV1.CreateNamespacedRoleBindingAsync(new V1RoleBinding
            {
                Metadata = new V1ObjectMeta { Name = $"{name}-reports" },
                RoleRef = new V1RoleRef { ApiGroup = "rbac.authorization.k8s.io", Kind = "ClusterRole", Name = "keyrotator-failure-reporter" },
                Subjects = [new Rbacv1Subject { Kind = "ServiceAccount", Name = name, NamespaceProperty = ns }],
            }, ns));
        }

        var token = await env.Admin.CoreV1.CreateNamespacedServiceAccountTokenAsync(new Authenticationv1TokenRequest
        {
            Spec = new V1TokenRequestSpec { Audiences = [audience], ExpirationSeconds = 3600 },
        }, name, ns);
        return token.Status.Token;
    }

    /// <summary>
    /// A token for <paramref name="name"/> in <paramref name="ns"/> (created if needed) bound to the API server's
    /// own audiences, as a pod mounts it (Prometheus scrapes with one), optionally bound cluster-wide to
    /// the ClusterRole keyrotator-metrics-reader (config/rbac/metrics-reader-role.yaml).
    /// </summary>
    public static async Task<string> ApiTokenAsync(KubernetesEnvironment env, string ns, string name, bool grantMetricsReader = false)
    {
        await IgnoreConflict(() => env.Admin.CoreV1.CreateNamespacedServiceAccountAsync(new V1ServiceAccount { Metadata = new V1ObjectMeta { Name = name } }, ns));
        if (grantMetricsReader)
        {
            var role = TestYaml.Deserialize<V1ClusterRole>(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "rbac", "metrics-reader-role.yaml")));
            await IgnoreConflict(() => env.Admin.RbacAuthorizationV1.CreateClusterRoleAsync(role));
            await IgnoreConflict(() => env.Admin.RbacAuthorizationV1.CreateClusterRoleBindingAsync(new V1ClusterRoleBinding
            {
                Metadata = new V1ObjectMeta { Name = $"{ns}-{name}-metrics-reader" },
                RoleRef = new V1RoleRef { ApiGroup = "rbac.authorization.k8s.io", Kind = "ClusterRole", Name = role.Metadata.Name },
                Subjects = [new Rbacv1Subject { Kind = "ServiceAccount", Name = name, NamespaceProperty = ns }],
            }));

            // The operator caches a denial for 30 s: hand out the token only once the API server's RBAC allows it.
            await Eventually.HoldsAsync(() => env.Admin.AuthorizationV1.CreateSubjectAccessReviewAsync(new V1SubjectAccessReview
            {
                Spec = new V1SubjectAccessReviewSpec
                {
                    User = $"system:serviceaccount:{ns}:{name}",
                    Groups = ["system:serviceaccounts", $"system:serviceaccounts:{ns}", "system:authenticated"],
                    NonResourceAttributes = new V1NonResourceAttributes { Path = "/metrics", Verb = "get" },
                },
            }), r => r.Status?.Allowed == true, TimeSpan.FromSeconds(10), "the metrics-reader binding in force");
        }

        var token = await env.Admin.CoreV1.CreateNamespacedServiceAccountTokenAsync(new Authenticationv1TokenRequest
        {
            Spec = new V1TokenRequestSpec { ExpirationSeconds = 3600 },
        }, name, ns);
        return token.Status.Token;
    }

    /// <summary>
    /// A token for <paramref name="name"/> bound to a Pod <paramref name="pod"/> that runs as it (both created if
    /// needed), as the kubelet projects one into the pod: the API server's TokenReview names the pod.
    /// </summary>
    public static async Task<string> PodTokenAsync(KubernetesEnvironment env, string ns, string name, string pod, string audience, bool grantReporter = false)
    {
        await TokenAsync(env, ns, name, audience, grantReporter);
        await IgnoreConflict(() => env.Admin.CoreV1.CreateNamespacedPodAsync(new V1Pod
        {
            Metadata = new V1ObjectMeta { Name = pod },
            Spec = new V1PodSpec
            {
                ServiceAccountName = name,
                AutomountServiceAccountToken = false,
                Containers = [new V1Container { Name = "verifier", Image = "verifier:test" }],
            },
        }, ns));
        var created = await env.Admin.CoreV1.ReadNamespacedPodAsync(pod, ns);
        var token = await env.Admin.CoreV1.CreateNamespacedServiceAccountTokenAsync(new Authenticationv1TokenRequest
        {
            Spec = new V1TokenRequestSpec
            {
                Audiences = [audience],
                ExpirationSeconds = 3600,
                BoundObjectRef = new V1BoundObjectReference { ApiVersion = "v1", Kind = "Pod", Name = pod, Uid = created.Metadata.Uid },
            },
        }, name, ns);
        return token.Status.Token;
    }

    private static async Task IgnoreConflict<T>(Func<Task<T>> create)
    {
        try
        {
            await create();
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
        }
    }
}
