using k8s;
using KeyRotator.Operator.Hosting;
using KeyRotator.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KeyRotator.Operator.Tests.ServiceAccountSigner;

/// <summary>The operator's signer mode, in process, on a socket of its own, reading the API server as <paramref name="config"/> says.</summary>
internal sealed class SignerInstance : IAsyncDisposable
{
    private readonly WebApplication _app;

    private SignerInstance(WebApplication app, string socket, CapturedLogs logs)
    {
        _app = app;
        Socket = socket;
        Logs = logs;
    }

    public string Socket { get; }

    public CapturedLogs Logs { get; }

    public static async Task<SignerInstance> StartAsync(KubernetesEnvironment env, string set, KubernetesClientConfiguration? config = null, string poll = "200ms", IEnumerable<string>? settings = null, Action<IServiceCollection>? configure = null)
    {
        var socket = Path.Combine(Path.GetTempPath(), $"kr-signer-{Guid.NewGuid():N}"[..24] + ".sock");
        var logs = new CapturedLogs();
        env.TrackLogs(logs);
        var app = SignerApp.Build(
            ["--socket", socket, "--set", set, "--poll", poll, "--KeyRotator:MinimumPrePublish", "00:00:01", "--KeyRotator:MinimumInterval", "00:00:05", "--KeyRotator:SignerPropagationAllowance", "00:00:01", .. settings ?? []],
            services =>
            {
                services.AddSingleton<IKubernetes>(new k8s.Kubernetes(config ?? env.OperatorConfig));
                services.AddLogging(b => b.ClearProviders().AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
                services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
                configure?.Invoke(services);
            });
        await app.StartAsync();
        return new SignerInstance(app, socket, logs);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        File.Delete(Socket);
    }
}
