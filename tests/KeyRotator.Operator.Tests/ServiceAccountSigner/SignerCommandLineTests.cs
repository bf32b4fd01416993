using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.ServiceAccountSigner;

/// <summary>The operator's executable in signer mode, as a control-plane node's static pod would start it.</summary>
public sealed class SignerCommandLineTests
{
    [Fact]
    public async Task A_signer_started_without_its_socket_and_set_exits_2_saying_what_to_write()
    {
        var (code, output) = await Repository.RunAsync("dotnet", OperatorProcess.Assembly, "signer", "--set", "no-namespace");

        Assert.Equal(2, code);
        Assert.Contains("--socket must be the absolute path of the Unix socket", output, StringComparison.Ordinal);
        Assert.Contains("--set must name the SigningKeySet as NAMESPACE/NAME", output, StringComparison.Ordinal);
        Assert.Contains("usage: KeyRotator.Operator signer --socket", output, StringComparison.Ordinal);
    }
}
