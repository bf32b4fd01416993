using KeyRotator.Samples.Verifier;

await VerifierApp.Build(args).RunAsync();
