using KeyRotator.Core.Lifecycle;

namespace KeyRotator.Core.Tests.Lifecycle;

/// <summary>The Azure Key Vault key names a grant gives a namespace.</summary>
public sealed class KeyNameGrantTests
{
    [Theory]
    [InlineData(null, "team-a", "anything", true)]                 // no prefix: the whole vault, as before
    [InlineData("{namespace}-", "team-a", "team-a-signing", true)]
    [InlineData("{namespace}-", "team-b", "team-a-signing", false)] // another team's names
    [InlineData("{namespace}-", "team-a", "team-a-b-signing", false)] // team-a-b has the longer claim
    [InlineData("{namespace}-", "team-a-b", "team-a-b-signing", true)]
    [InlineData("kr-{namespace}-", "team-a", "KR-TEAM-A-signing", true)] // Key Vault names are case-insensitive
    public void A_namespace_may_name_only_keys_under_its_own_prefix(string? prefix, string ns, string keyName, bool allowed) =>
        Assert.Equal(allowed, KeyNameGrant.Allows(prefix, ["team-a", "team-b", "team-a-b"], ns, keyName));
}
