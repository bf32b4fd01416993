using System.Globalization;
using System.Net.Sockets;

namespace KeyRotator.Testing;

/// <summary>
/// Azurite, the Azure Storage emulator (npm's azurite, from hack/azurite.sh; AZURITE_BLOB), serving the
/// blob service on loopback with its well-known development account. Data lives in a directory, so a
/// <see cref="StopAsync"/> and <see cref="StartAgainAsync"/> (an outage) keeps what was written.
/// </summary>
public sealed class AzuriteServer : IAsyncDisposable
{
    /// <summary>Azurite's published development account and key (the same for every installation).</summary>
    public const string Account = "devstoreaccount1";
    private const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private readonly string _work;
    private ManagedProcess? _process;

    private AzuriteServer(string work, int port)
    {
        _work = work;
        Port = port;
    }

    public int Port { get; }

    /// <summary>The account's blob endpoint (path-style, as Azurite serves it).</summary>
    public string Endpoint => $"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}/{Account}";

    public string ConnectionString => $"DefaultEndpointsProtocol=http;AccountName={Account};AccountKey={AccountKey};BlobEndpoint={Endpoint};";

    public static string Binary() =>
        Environment.GetEnvironmentVariable("AZURITE_BLOB") is { Length: > 0 } bin
            ? bin
            : throw new InvalidOperationException("the blob-publication tests need Azurite: run them with hack/test.sh, or set AZURITE_BLOB=$(hack/azurite.sh)");

    public static async Task<AzuriteServer> StartAsync()
    {
        var server = new AzuriteServer(Directory.CreateTempSubdirectory("keyrotator-azurite-").FullName, FreePort.Next());
        await server.StartAgainAsync();
        return server;
    }

    /// <summary>Starts (again, after <see cref="StopAsync"/>) on the same port and data directory, and waits until it accepts connections.</summary>
    public async Task StartAgainAsync()
    {
        _process = ManagedProcess.Start("azurite", Binary(),
        [
            "--blobHost", "127.0.0.1", "--blobPort", Port.ToString(CultureInfo.InvariantCulture),
            "--location", Path.Combine(_work, "data"), "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--loose",
        ], Path.Combine(_work, "azurite.log"), _work);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            try
            {
                using var tcp = new TcpClient();
                await tcp.ConnectAsync("127.0.0.1", Port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !_process.HasExited)
            {
                await Task.Delay(100);
            }
            catch (SocketException)
            {
                throw new InvalidOperationException($"Azurite did not start; its log: {await File.ReadAllTextAsync(Path.Combine(_work, "azurite.log"))}");
            }
        }
    }

    /// <summary>
    /// Stops Azurite (SIGTERM, so that it saves its metadata, which it otherwise writes every few seconds):
    /// the endpoint refuses connections until <see cref="StartAgainAsync"/>.
    /// </summary>
    public async Task StopAsync()
    {
        if (_process is not { } process)
            return;
        _process = null;
        if (!process.HasExited)
        {
            using (var term = System.Diagnostics.Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]))
                await term.WaitForExitAsync();
            using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try
            {
                await process.WaitForExitAsync(patience.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill();
                await process.WaitForExitAsync(CancellationToken.None);
            }
        }

        await process.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try
        {
            Directory.Delete(_work, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
