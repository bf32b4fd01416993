using k8s;
using KeyRotator.Operator.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace KeyRotator.Operator.Tests.Hosting;

/// <summary>The operator's host as it is composed, for tests of its wiring; its API client points nowhere.</summary>
internal static class UnstartedOperator
{
    public static WebApplication Build(params string[] settings) =>
        OperatorApp.Build(["--urls", "http://127.0.0.1:0", .. settings], services =>
            services.AddSingleton<IKubernetes>(new k8s.Kubernetes(new KubernetesClientConfiguration { Host = "https://127.0.0.1:1" })));
}
