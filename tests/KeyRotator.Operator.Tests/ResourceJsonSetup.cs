using System.Runtime.CompilerServices;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests;

/// <summary>
/// What the operator's composition root does first, done before any test touches KubernetesJson (its options
/// freeze on first use); then the untyped bodies only tests send.
/// </summary>
internal static class ResourceJsonSetup
{
    [ModuleInitializer]
    internal static void UseResourceJson()
    {
        KeyRotatorJson.UseInKubernetesJson();
        TestBodiesJson.Register();
    }
}
