using System.CommandLine;
using System.CommandLine.Parsing;

namespace KeyRotator.Cli;

/// <summary>
/// The command tree (System.CommandLine: parsing, help, and completion through the [suggest]
/// directive) and the translation of its parse errors into the CLI's one-line messages.
/// </summary>
internal sealed class Commands
{
    public Option<string?> Kubeconfig { get; } = new("--kubeconfig") { Description = "Path to the kubeconfig (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)", HelpName = "PATH", Recursive = true };

    public Option<string?> Context { get; } = new("--context") { Description = "The kubeconfig context to use", HelpName = "NAME", Recursive = true };

    public Option<string?> Namespace { get; } = new("--namespace", "-n") { Description = "Namespace (default: the kubeconfig context's, else default)", HelpName = "NAMESPACE", Recursive = true };

    public Option<string> Output { get; } = new("--output", "-o") { Description = "Output format", HelpName = "json|table", DefaultValueFactory = _ => "table", Recursive = true };

    public Option<bool> AllNamespaces { get; } = new("--all-namespaces", "-A") { Description = "Every namespace" };

    public Option<bool> Force { get; } = new("--force") { Description = "Revoke a kid the set does not list" };

    public Option<string?> Jwks { get; } = new("--jwks") { Description = "Verify against this JWKS file", HelpName = "FILE" };

    public Option<string?> Set { get; } = new("--set") { Description = "Verify against this set's published JWKS", HelpName = "NAME" };

    public Argument<string> Name { get; } = new("NAME") { Description = "The SigningKeySet" };

    public Argument<string> Kid { get; } = new("KID") { Description = "The key id to revoke" };

    public Argument<string> Token { get; } = new("TOKEN") { Description = "The JWT (- reads it from stdin)" };

    /// <summary>How each command is written in a usage line.</summary>
    private static readonly Dictionary<string, string> UsageLines = new(StringComparer.Ordinal)
    {
        ["status"] = "status [-n NAMESPACE | -A]",
        ["rotate"] = "rotate NAME [-n NAMESPACE]",
        ["revoke"] = "revoke NAME KID [-n NAMESPACE] [--force]",
        ["jwks"] = "jwks NAME [-n NAMESPACE]",
        ["inspect"] = "inspect TOKEN [--jwks FILE | --set NAME -n NAMESPACE]",
    };

    public Commands()
    {
        Output.AcceptOnlyFromAmong("json", "table");
        Root = new RootCommand("""
            keyrotator: JWT signing keys on Kubernetes (also usable as `kubectl keyrotator`).
            Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 findings or failed verification.
            """)
        {
            Kubeconfig, Context, Namespace, Output,
        };

        // As installed (keyrotator, or kubectl-keyrotator through kubectl), whatever process hosts it.
        Root.HelpName = "keyrotator";
        Root.Add(Status = new Command("status", "Sets, active kid, key states, next rotation, readiness, verifiers and signers") { AllNamespaces });
        Root.Add(Rotate = new Command("rotate", "Rotate once the next key has been pre-published") { Name });
        Root.Add(Revoke = new Command("revoke", "Compromise: the key leaves every JWKS at once and never signs again") { Name, Kid, Force });
        Root.Add(JwksCommand = new Command("jwks", "Print the published JWKS") { Name });
        Root.Add(Inspect = new Command("inspect", "Decode a token without trusting it, list hardening findings, optionally verify it") { Token, Jwks, Set });
        Root.Add(Help = new Command("help", "Show this help") { Hidden = true });
    }

    public RootCommand Root { get; }

    public Command Status { get; }

    public Command Rotate { get; }

    public Command Revoke { get; }

    public Command JwksCommand { get; }

    public Command Inspect { get; }

    public Command Help { get; }

    /// <summary>
    /// The first parse error as the CLI says it: "unknown flag --bogus", "-n needs a value",
    /// "usage: keyrotator revoke NAME KID", "unknown command "x"".
    /// </summary>
    public static string Describe(ParseResult result)
    {
        var command = result.CommandResult.Command;
        var usage = UsageLines.TryGetValue(command.Name, out var line) ? $"usage: keyrotator {line}" : "usage: keyrotator COMMAND [options]; see keyrotator --help";
        foreach (var token in result.UnmatchedTokens)
        {
            if (token.StartsWith('-') && token.Length > 1)
                return $"unknown flag {token.Split('=')[0]}; {usage}";
            return command is RootCommand ? $"unknown command \"{token}\"; see keyrotator --help" : $"unexpected argument \"{token}\"; {usage}";
        }

        foreach (var error in result.Errors)
        {
            switch (error.SymbolResult)
            {
                case OptionResult option when option.Tokens.Count == 0:
                    return $"{option.IdentifierToken?.Value ?? option.Option.Name} needs a value";
                case OptionResult option:
                    return $"{option.IdentifierToken?.Value ?? option.Option.Name}: {OneLine(error.Message)}";
                case ArgumentResult or CommandResult:
                    return usage;
            }
        }

        return result.Errors.Count > 0 ? $"{OneLine(result.Errors[0].Message)}; {usage}" : usage;
    }

    private static string OneLine(string message) => string.Join(' ', message.Split((char[])['\n', '\r', '\t', ' '], StringSplitOptions.RemoveEmptyEntries));
}
