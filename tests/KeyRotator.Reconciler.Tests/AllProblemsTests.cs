using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using Xunit;
using static KeyRotator.Reconciler.Tests.ReconcileWorld;
using static KeyRotator.Reconciler.Tests.TransitionTests;

namespace KeyRotator.Reconciler.Tests;

/// <summary>
/// A set with several problems is told all of them at once (the holds chain collects every problem before
/// anything is applied), so that fixing one is not followed by the next surprise on the next reconcile.
/// </summary>
public sealed class AllProblemsTests
{
    [Fact]
    public async Task A_set_with_three_problems_says_all_three_in_its_ready_condition_and_its_event()
    {
        await using var world = new ReconcileWorld();

        // Team B's set already writes the ConfigMap team A's set names: labelled, owned by another UID.
        world.Api.Seed(new V1ConfigMap
        {
            Metadata = new V1ObjectMeta
            {
                Name = "auth-jwks",
                NamespaceProperty = Ns,
                Labels = new Dictionary<string, string> { [Labels.ManagedBy] = Labels.ManagedByValue },
                OwnerReferences = [new V1OwnerReference { ApiVersion = "keyrotator.io/v1alpha1", Kind = "SigningKeySet", Name = "other", Uid = "uid-of-team-b-set" }],
            },
            Data = new Dictionary<string, string> { ["jwks.json"] = """{"keys":[]}""" },
        });

        // Team A's set: an interval under the operator's floor, and an Azure Key Vault nobody granted.
        world.Apply(Hourly()
            .WithRotation(r => r with { Interval = "1m" })
            .WithSpec(s => s with { Vault = new VaultSpec { Provider = "AzureKeyVault", AzureKeyVault = new AzureKeyVaultSpec { VaultUri = "https://team-vault.vault.azure.net/", KeyName = "signing" } } }));

        await world.ReconcileAsync();

        var ready = world.Condition(ConditionSet.Ready)!;
        Assert.Equal(("False", Reasons.InvalidSpec), (ready.Status, ready.Reason));
        Assert.Contains("3 problems", ready.Message, StringComparison.Ordinal);
        Assert.Contains("interval", ready.Message, StringComparison.Ordinal);
        Assert.Contains($"[{Reasons.VaultNotGranted}]", ready.Message, StringComparison.Ordinal);
        Assert.Contains($"[{Reasons.NameConflict}] ConfigMap team/auth-jwks", ready.Message, StringComparison.Ordinal);
        var warning = Assert.Single(world.Api.Events, e => e.Type == "Warning" && e.Reason == Reasons.InvalidSpec);
        Assert.Contains(Reasons.VaultNotGranted, warning.Message, StringComparison.Ordinal);
        Assert.Contains(Reasons.NameConflict, warning.Message, StringComparison.Ordinal);
        Assert.Null(world.JwksKids()?.Count > 0 ? world.JwksKids() : null);
    }

    [Fact]
    public async Task Fixing_one_of_two_problems_leaves_the_other_as_the_reason()
    {
        await using var world = new ReconcileWorld();
        world.Apply(Hourly()
            .WithRotation(r => r with { Interval = "1m" })
            .WithSpec(s => s with { Vault = new VaultSpec { Provider = "AzureKeyVault", AzureKeyVault = new AzureKeyVaultSpec { VaultUri = "https://team-vault.vault.azure.net/", KeyName = "signing" } } }));
        await world.ReconcileAsync();
        Assert.Contains($"[{Reasons.VaultNotGranted}]", world.Condition(ConditionSet.Ready)!.Message, StringComparison.Ordinal);

        world.Api.Change<V1Alpha1SigningKeySet>(Ns, Name, s => s.Spec = s.Spec with { Rotation = s.Spec.Rotation! with { Interval = "1h" } });
        await world.ReconcileAsync();

        var ready = world.Condition(ConditionSet.Ready)!;
        Assert.Equal(Reasons.VaultNotGranted, ready.Reason);
        Assert.DoesNotContain("interval", ready.Message, StringComparison.Ordinal);
    }
}
