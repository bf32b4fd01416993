using KeyRotator.Cli;

return await new CliApp(Console.Out, Console.Error).RunAsync(args);
