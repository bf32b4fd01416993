using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Crd;

/// <summary>
/// The CRD's CEL rules (algorithm, RSA key size and vault are immutable once keys exist). The test API
/// server (Kubernetes 1.20) accepts the CRD but does not run CEL, so the rules are evaluated by a CEL
/// implementation (tests/crd-rules, npm package @marcbachmann/cel-js) over old/new pairs; on 1.20 the
/// operator's InvalidSpec check enforces the same (SafetyTests).
/// </summary>
public sealed class CrdValidationRuleTests
{
    [Fact]
    public async Task Key_parameters_cannot_change_once_keys_exist_and_every_other_edit_passes()
    {
        var folder = Path.Combine(Repository.Root, "tests", "crd-rules");
        Assert.True(Directory.Exists(Path.Combine(folder, "node_modules", "@marcbachmann", "cel-js")),
            "the CEL evaluator is not installed: run `npm ci --prefix tests/crd-rules` (hack/test.sh does)");

        var (code, output) = await Repository.RunAsync("node", Path.Combine(folder, "check.mjs"));

        Assert.True(code == 0, output);
        Assert.Contains("12 of 12 cases as expected", output, StringComparison.Ordinal);
        Assert.Contains("an algorithm change once keys exist: refused: spec.algorithm cannot change", output, StringComparison.Ordinal);
        Assert.Contains("another PIN Secret on the same token: allowed", output, StringComparison.Ordinal);
    }
}
