using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Resources;

namespace KeyRotator.Core.Tests.Lifecycle;

/// <summary>What a ClusterPublishTarget grants a namespace: a folder and the public URLs under it, never another namespace's.</summary>
public sealed class PublishGrantTests
{
    private static ClusterPublishTargetSpec Target(string? prefix = null, params string[] namespaces) => new()
    {
        AzureBlob = new AzureBlobTarget { Endpoint = "https://acct.blob.core.windows.net", Container = "issuers" },
        Namespaces = namespaces.Length == 0 ? ["team-a", "team-b"] : namespaces,
        PathPrefix = prefix,
        PublicUrl = "https://issuers.example.com",
    };

    private static string? Refusal(ClusterPublishTargetSpec target, string ns, string path, string? issuer = null, string? jwksUri = null) =>
        PublishGrant.Refusal("issuers", target, ns, new PublishSpec { Target = "issuers", Path = path }, issuer, jwksUri);

    [Theory]
    [InlineData("team-a", "team-a/auth", null)]                 // its own folder
    [InlineData("team-a", "team-a", null)]                      // the folder itself
    [InlineData("team-b", "team-a/auth", "paths under team-b/")] // another team's folder
    [InlineData("team-a", "team-a-b/auth", "paths under team-a/")] // a folder whose name only starts with its own
    [InlineData("team-a", "auth", "paths under team-a/")]       // the shared root
    public void A_namespace_publishes_only_under_its_own_folder(string ns, string path, string? refused)
    {
        var refusal = Refusal(Target(), ns, path);
        if (refused is null)
            Assert.Null(refusal);
        else
            Assert.Contains(refused, refusal, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://issuers.example.com/team-a/auth", null)]
    [InlineData("https://issuers.example.com/team-b/auth", "spec.jwks.issuer https://issuers.example.com/team-b/auth is outside")]
    [InlineData("https://issuers.example.com/team-a-b/auth", "spec.jwks.issuer https://issuers.example.com/team-a-b/auth is outside")]
    [InlineData("https://elsewhere.example.com/team-a/auth", "spec.jwks.issuer https://elsewhere.example.com/team-a/auth is outside")]
    public void A_set_may_name_only_an_issuer_under_its_namespaces_public_folder(string issuer, string? refused)
    {
        var refusal = Refusal(Target(), "team-a", "team-a/auth", issuer, issuer + "/.well-known/jwks.json");
        if (refused is null)
            Assert.Null(refusal);
        else
            Assert.Contains(refused, refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void A_jwks_uri_outside_the_folder_is_refused_even_under_a_granted_issuer() =>
        Assert.Contains("spec.jwks.jwksUri https://issuers.example.com/team-b/jwks is outside",
            Refusal(Target(), "team-a", "team-a/auth", "https://issuers.example.com/team-a/auth", "https://issuers.example.com/team-b/jwks"), StringComparison.Ordinal);

    [Theory]
    [InlineData("", "team-a")]                      // one namespace may have the whole container
    [InlineData("issuers/", "team-a")]
    [InlineData("x/{namespace}/", "team-a", "team-b")]
    [InlineData("{namespace}/", "*")]
    public void A_prefix_is_accepted_when_no_two_namespaces_share_a_folder(string prefix, params string[] namespaces) =>
        Assert.NotNull(PublishGrant.PathPrefix(Target(prefix, namespaces), "team-a"));

    [Theory]
    [InlineData("", "team-a", "team-b")]
    [InlineData("", "*")]
    [InlineData("{namespace}-", "team-a", "team-a-b")] // team-a's prefix would hold team-a-b's folder
    public void A_prefix_that_namespaces_would_share_refuses_every_set(string prefix, params string[] namespaces)
    {
        Assert.Null(PublishGrant.PathPrefix(Target(prefix, namespaces), "team-a"));
        Assert.Contains("put {namespace}/ in it", Refusal(Target(prefix, namespaces), "team-a", "team-a/auth"), StringComparison.Ordinal);
    }

    [Fact]
    public void Without_a_public_url_the_container_url_is_what_is_granted() =>
        Assert.Null(Refusal(Target() with { PublicUrl = null }, "team-a", "team-a/auth", "https://acct.blob.core.windows.net/issuers/team-a/auth"));
}
