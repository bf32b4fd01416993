namespace KeyRotator.Cli;

/// <summary>A parsed command line: the command, its positional arguments, and --options.</summary>
public sealed class CommandLine
{
    private static readonly HashSet<string> Flags = ["--all-namespaces", "-A", "--help", "-h", "--force"];

    /// <summary>Options that take a value.</summary>
    private static readonly HashSet<string> Valued = ["--namespace", "-n", "--kubeconfig", "--context", "--output", "-o", "--jwks", "--set"];

    private CommandLine(string command, List<string> positional, Dictionary<string, string> options)
    {
        Command = command;
        Positional = positional;
        Options = options;
    }

    public string Command { get; }

    public IReadOnlyList<string> Positional { get; }

    public IReadOnlyDictionary<string, string> Options { get; }

    public bool Has(params string[] names) => names.Any(Options.ContainsKey);

    public string? Get(params string[] names) => names.Select(n => Options.GetValueOrDefault(n)).FirstOrDefault(v => v is not null);

    public bool Json => Get("--output", "-o") == "json";

    public static CommandLine Parse(string[] args)
    {
        var positional = new List<string>();
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (arg.StartsWith('-') && arg.Length > 1)
            {
                var eq = arg.IndexOf('=', StringComparison.Ordinal);
                var name = eq > 0 ? arg[..eq] : arg;
                if (!Flags.Contains(name) && !Valued.Contains(name))
                    throw new UsageException($"unknown flag {name}; see the flags below");
                if (eq > 0)
                    options[arg[..eq]] = arg[(eq + 1)..];
                else if (Flags.Contains(arg))
                    options[arg] = "true";
                else if (i + 1 < args.Length)
                    options[arg] = args[++i];
                else
                    throw new UsageException($"{arg} needs a value");
            }
            else
            {
                positional.Add(arg);
            }
        }

        var command = positional.Count > 0 ? positional[0] : "help";
        return new CommandLine(command, positional.Skip(1).ToList(), options);
    }
}

public sealed class UsageException(string message) : Exception(message)
{
    public UsageException()
        : this("wrong usage")
    {
    }

    public UsageException(string message, Exception inner)
        : this(message + ": " + inner.Message)
    {
    }
}
