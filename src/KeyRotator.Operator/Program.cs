using KeyRotator.Operator.Hosting;

// "signer": Kubernetes' external service-account token signer for one SigningKeySet (docs/service-account-signer.md).
if (args is ["signer", .. var signerArgs])
{
    Microsoft.AspNetCore.Builder.WebApplication signer;
    try
    {
        signer = SignerApp.Build(signerArgs);
    }
    catch (ArgumentException e)
    {
        await Console.Error.WriteLineAsync(e.Message);
        return 2;
    }

    await signer.RunAsync();
    return 0;
}

var app = OperatorApp.Build(args);
await app.RunAsync();
return 0;
