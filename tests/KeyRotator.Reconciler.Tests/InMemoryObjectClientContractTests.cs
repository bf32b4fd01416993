using k8s;
using k8s.Models;
using KeyRotator.Operator.Runtime;
using KeyRotator.Testing;

namespace KeyRotator.Reconciler.Tests;

/// <summary>The object client contract on the in-memory client the reconciler tests use (the same cases pass on a real kube-apiserver).</summary>
public sealed class InMemoryObjectClientContractTests : ObjectClientContract
{
    private readonly InMemoryObjectClient _api = new();

    protected override IObjectClient Client => _api;

    protected override Task<string> NamespaceAsync()
    {
        var ns = "contract-" + Guid.NewGuid().ToString("N")[..8];
        _api.Seed(new V1Namespace { Metadata = new V1ObjectMeta { Name = ns } });
        return Task.FromResult(ns);
    }

    protected override Task DeleteAsSomeoneElseAsync<T>(string? ns, string name)
    {
        _api.DeleteAsSomeoneElse<T>(ns, name);
        return Task.CompletedTask;
    }

    protected override Task CacheFallsBehindAsync(string ns)
    {
        _api.FallBehind();
        return Task.CompletedTask;
    }
}
