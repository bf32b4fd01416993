using Azure.Core;
using Azure.Identity;
using k8s;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Operator.Configuration;
using KeyRotator.Operator.Informers;
using KeyRotator.Operator.Runtime;
using KeyRotator.Operator.ServiceAccountSigner;
using KeyRotator.Operator.Vault;
using KeyRotator.Operator.Vault.Azure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.Hosting;

/// <summary>
/// The composition root of the signer mode (<c>signer --socket … --set …</c>): Kubernetes' ExternalJWTSigner
/// v1 over gRPC on a Unix socket, for one SigningKeySet marked as the cluster's service-account issuer. It
/// reconciles nothing: the operator rotates the set; the signer reads it and signs (docs/service-account-signer.md).
/// </summary>
public static class SignerApp
{
    public static WebApplication Build(string[] args, Action<IServiceCollection>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        var configuration = builder.Configuration;
        var (options, problems) = SignerOptions.From(configuration["socket"], configuration["set"], configuration["state-file"], configuration["poll"]);
        if (options is null)
            throw new ArgumentException(string.Join(Environment.NewLine, [.. problems, SignerOptions.Usage]));

        // A socket left by a signer that did not stop cleanly would make the bind fail (the path is the signer's own).
        if (File.Exists(options.Socket))
            File.Delete(options.Socket);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.ListenUnixSocket(options.Socket, listen => listen.Protocols = HttpProtocols.Http2);
            kestrel.Limits.MaxRequestBodySize = 2 * ExternalJwtSignerService.MaximumClaimsLength;
        });
        builder.Services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = 2 * ExternalJwtSignerService.MaximumClaimsLength;
            grpc.EnableDetailedErrors = false;
        });

        builder.Services.AddOptions<OperatorOptions>().Bind(configuration.GetSection(OperatorOptions.Section));
        builder.Services.AddSingleton(options);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton<IKubernetes>(_ => new k8s.Kubernetes(OperatorApp.ClientConfiguration(configuration)));
        // Reads go to the API server (an empty cache): the signer keeps no informers.
        builder.Services.AddSingleton<ObjectCache>();
        builder.Services.TryAddSingleton<IObjectClient, ObjectClient>();
        builder.Services.AddSingleton(s =>
        {
            var operatorOptions = s.GetRequiredService<IOptions<OperatorOptions>>().Value;
            return new RotationPolicyOptions
            {
                MinimumPrePublish = operatorOptions.MinimumPrePublish,
                MinimumInterval = operatorOptions.MinimumInterval,
                SignerPropagationAllowance = operatorOptions.SignerPropagationAllowance,
                RetiredKeyHistory = operatorOptions.RetiredKeyHistory,
            };
        });
        builder.Services.AddSingleton<IKeyStore, Pkcs11KeyStore>();
        builder.Services.TryAddSingleton<TokenCredential>(_ => new DefaultAzureCredential());
        builder.Services.TryAddSingleton(s =>
        {
            var azure = s.GetRequiredService<IOptions<OperatorOptions>>().Value.AzureKeyVault;
            var clientOptions = new KeyVaultClientOptions();
            clientOptions.Retry.MaxRetries = azure.MaxRetries;
            clientOptions.Retry.NetworkTimeout = azure.NetworkTimeout;
            return clientOptions;
        });
        builder.Services.AddSingleton(s =>
        {
            var azure = s.GetRequiredService<IOptions<OperatorOptions>>().Value.AzureKeyVault;
            return new KeyVaultCreateLimiter(s.GetRequiredService<TimeProvider>(), azure.SoftwareCreatesPer10Seconds, azure.HsmCreatesPer10Seconds);
        });
        builder.Services.AddSingleton<KeyVaultClient>();
        builder.Services.AddSingleton<IKeyStore, AzureKeyVaultKeyStore>();
        builder.Services.AddSingleton<IssuerSetReader>();
        builder.Services.AddSingleton<IssuerFollower>();
        builder.Services.AddHostedService(s => s.GetRequiredService<IssuerFollower>());
        configure?.Invoke(builder.Services);

        var app = builder.Build();
        app.MapGrpcService<ExternalJwtSignerService>();
        // Whoever can open the socket can sign the cluster's tokens: the API server's user alone.
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(options.Socket, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        });
        return app;
    }
}
