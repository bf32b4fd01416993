using KeyRotator.Model.Resources;
using KeyRotator.Operator.ServiceAccountSigner;

namespace KeyRotator.Reconciler.Tests.ServiceAccountSigner;

/// <summary>The signer's state file: atomic, private to its user, never a vault key's material, only its own set's.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class StateFileTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("kr-state-").FullName;

    private static IssuerState State(string provider, string? pem) => new()
    {
        Namespace = "kube-system",
        Name = "cluster-issuer",
        Uid = "uid-1",
        Spec = new SigningKeySetSpec { Algorithm = "ES256", ServiceAccountIssuer = true, Vault = new VaultSpec { Provider = provider }, RevokedKeyIds = ["old"] },
        Jwks = "{\"keys\":[]}",
        SigningKid = "kid-1",
        SigningAlg = "ES256",
        PrivateKeyPem = pem,
        ReadAt = DateTimeOffset.UnixEpoch,
    };

    [Fact]
    public void A_reading_round_trips_and_leaves_no_temporary_file_and_no_access_for_others()
    {
        var path = Path.Combine(_directory, "state.json");

        StateFile.Write(path, State("Kubernetes", "-----BEGIN PRIVATE KEY-----"));
        StateFile.Write(path, State("Kubernetes", "-----BEGIN PRIVATE KEY-----") with { SigningKid = "kid-2" });

        var read = StateFile.Read(path, "kube-system", "cluster-issuer");
        Assert.Equal("kid-2", read!.SigningKid);
        Assert.Equal(["old"], read.Spec.RevokedKeyIds);
        Assert.Equal([path], Directory.GetFiles(_directory));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }

    [Theory]
    [InlineData("Pkcs11")]
    [InlineData("AzureKeyVault")]
    public void Key_material_of_a_vault_provider_is_never_written(string provider)
    {
        var path = Path.Combine(_directory, "state.json");

        Assert.Throws<InvalidOperationException>(() => StateFile.Write(path, State(provider, "-----BEGIN PRIVATE KEY-----")));

        Assert.Empty(Directory.GetFiles(_directory));
    }

    [Fact]
    public void A_state_of_another_set_or_a_damaged_file_is_not_served()
    {
        var path = Path.Combine(_directory, "state.json");
        StateFile.Write(path, State("Kubernetes", null));

        Assert.Null(StateFile.Read(path, "kube-system", "other"));
        File.WriteAllText(path, "{ not json");
        Assert.Null(StateFile.Read(path, "kube-system", "cluster-issuer"));
        Assert.Null(StateFile.Read(Path.Combine(_directory, "missing.json"), "kube-system", "cluster-issuer"));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
