using System.Globalization;
using System.Net;
using System.Text;
using k8s.Models;
using KeyRotator.Operator.Vault;
using KeyRotator.Testing;
using static KeyRotator.Reconciler.Tests.ReconcileWorld;

namespace KeyRotator.Reconciler.Tests;

/// <summary>
/// The walk's key store steps: the Secret name the Kubernetes key store keeps the set's keys under taken by
/// someone else's Secret before the set's first key (and deleted by its owner a few steps later), and the
/// API server refusing the key store's Secret (503 for every request: vault down; 403 or 500 for its
/// writes only: the vault refusing to create, disable or delete keys).
/// </summary>
internal sealed partial class RotationWalk
{
    private const string RefusedWrites = "keys-write:";

    /// <summary>Steps the key store's name stays taken by someone else's Secret (0: it is free).</summary>
    private int _nameTakenFor;

    /// <summary>
    /// Someone else (an application's team, with none of KeyRotator's labels, owner or set UID) keeps a
    /// Secret of their own at the name the set's keys would be stored under, before the set's first key.
    /// </summary>
    private void TakeKeyStoreName(int steps)
    {
        _world.Api.Seed(new V1Secret
        {
            Metadata = new V1ObjectMeta
            {
                Name = KubernetesKeyStore.SecretName(Name),
                NamespaceProperty = Ns,
                Labels = new Dictionary<string, string> { ["app"] = "billing" },
            },
            Type = "Opaque",
            Data = new Dictionary<string, byte[]> { ["password"] = Encoding.UTF8.GetBytes("billing-db-password") },
        });
        _observer.NameTaken(_world.Api.Stored<V1Secret>(Ns, KubernetesKeyStore.SecretName(Name))!);
        _nameTakenFor = steps;
        _observer.Log($"Secret {KubernetesKeyStore.SecretName(Name)} taken by someone else for {steps} steps");
    }

    /// <summary>After a step: the owner of the Secret that took the key store's name deletes it when its time is up.</summary>
    private void FreeKeyStoreNameInTime()
    {
        if (_nameTakenFor == 0 || --_nameTakenFor > 0)
            return;
        _world.Api.DeleteAsSomeoneElse<V1Secret>(Ns, KubernetesKeyStore.SecretName(Name));
        _observer.NameFreed();
        _observer.Log($"its owner deleted Secret {KubernetesKeyStore.SecretName(Name)}");
    }

    /// <summary>The key store's Secret refused: every request (vault down), or its writes with 403 or 500.</summary>
    private void RefuseKeyStore()
    {
        switch (_random.Next(3))
        {
            case 0:
                Refuse("keys", "the key store (vault down)");
                break;
            case 1:
                Refuse(RefusedWrites + "403", "writes of the key store (403: the vault refuses to create keys)");
                break;
            default:
                Refuse(RefusedWrites + "500", "writes of the key store (500)");
                break;
        }
    }

    /// <summary>The API server refuses the requests a refusal names: with 503, or for the key store's writes with the status it names.</summary>
    private static Func<ObjectWrite, HttpStatusCode?> When(string what) => request => what switch
    {
        "status" when request is { Verb: "replace-status", Kind: "SigningKeySet" } => HttpStatusCode.ServiceUnavailable,
        "keys" when request.Kind == "Secret" && request.Name == KubernetesKeyStore.SecretName(Name) => HttpStatusCode.ServiceUnavailable,
        _ when what.StartsWith(RefusedWrites, StringComparison.Ordinal) && request is { Kind: "Secret", Verb: "create" or "replace" }
            && request.Name == KubernetesKeyStore.SecretName(Name) => (HttpStatusCode)int.Parse(what[RefusedWrites.Length..], CultureInfo.InvariantCulture),
        "signing" when request is { Kind: "Secret", Verb: not "get" } && request.Name == $"{Name}-signing" => HttpStatusCode.ServiceUnavailable,
        _ when what.StartsWith("copy:", StringComparison.Ordinal) && request is { Kind: "ConfigMap", Verb: not ("get" or "list") }
            && request.Namespace == what["copy:".Length..] => HttpStatusCode.ServiceUnavailable,
        _ => null,
    };
}
