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
