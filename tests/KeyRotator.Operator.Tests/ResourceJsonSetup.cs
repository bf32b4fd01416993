using System.Runtime.CompilerServices;
using KeyRotator.Model.Kubernetes;

namespace KeyRotator.Operator.Tests;

/// <summary>What the operator's composition root does first, done before any test touches KubernetesJson (its options freeze on first use).</summary>
internal static class ResourceJsonSetup
{
    [ModuleInitializer]
    internal static void UseResourceJson() => KeyRotatorJson.UseInKubernetesJson();
}
