using k8s.Models;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Kubernetes;

/// <summary>Which labelled objects were written for a set (and so may wake it): its UID, and only where the set may have them.</summary>
public sealed class OwnershipRuleTests
{
    private const string TeamA = "team-a";
    private const string TeamB = "team-b";
    private const string Listed = "gateway";
    private const string Uid = "4f0c2a9e-0000-4000-8000-000000000001";

    public static TheoryData<string, string, string?, string?, bool> Objects => new()
    {
        // namespace, description, owner reference UID, set-uid annotation, written for team A's set
        { TeamA, "the set's own ConfigMap, owned by its UID", Uid, Uid, true },
        { Listed, "a copy in a namespace the set lists", null, Uid, true },
        { Listed, "an object in a listed namespace with only the labels", null, null, false },
        { TeamA, "an object in the set's namespace owned by another UID", "another-uid", null, false },
        { TeamA, "an object in the set's namespace with only the labels", null, null, false },
        { TeamB, "team B's object with only the labels", null, null, false },
        { TeamB, "team B's object naming team A's set UID", null, Uid, false },
        { Listed, "an object in a listed namespace naming another UID", null, "another-uid", false },
    };

    [Theory]
    [MemberData(nameof(Objects))]
    public void Only_objects_owned_by_the_set_UID_where_the_set_may_have_them_are_written_for_it(string ns, string description, string? ownerUid, string? uidAnnotation, bool writtenFor)
    {
        var set = SigningKeySetBuilder.Named("auth", TeamA).WithSpec(s => s with { Jwks = new JwksSpec { TargetNamespaces = [Listed] } }).Build();
        set.Metadata.Uid = Uid;
        var metadata = new V1ObjectMeta
        {
            Name = "auth-jwks",
            NamespaceProperty = ns,
            Labels = Labels.For(TeamA, "auth", "jwks"),
            Annotations = uidAnnotation is null ? null : new Dictionary<string, string> { [Labels.SetUidAnnotation] = uidAnnotation },
            OwnerReferences = ownerUid is null ? null : [new V1OwnerReference { ApiVersion = "keyrotator.io/v1alpha1", Kind = "SigningKeySet", Name = "auth", Uid = ownerUid }],
        };

        Assert.True(writtenFor == Ownership.IsWrittenFor(metadata, set), description);
    }
}
