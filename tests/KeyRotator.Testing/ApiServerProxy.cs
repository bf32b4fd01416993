using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace KeyRotator.Testing;

/// <summary>
/// A plain-HTTP reverse proxy on loopback in front of the test API server, for one operator process:
/// it records every write that passes (method, path, arrival time) and can hold Lease requests
/// unanswered while the rest of the traffic, watches included, flows. That is a network partition
/// between one replica and its Lease, the split brain that leader election must survive.
/// </summary>
public sealed class ApiServerProxy : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _upstream;
    private readonly ConcurrentQueue<ProxiedWrite> _writes = new();
    private volatile bool _blockLeases;

    private ApiServerProxy(WebApplication app, HttpClient upstream)
    {
        _app = app;
        _upstream = upstream;
    }

    public Uri Address { get; private set; } = null!;

    /// <summary>When true, requests for Leases are held until the client gives up; nothing reaches the API server.</summary>
    public bool BlockLeases
    {
        get => _blockLeases;
        set => _blockLeases = value;
    }

    /// <summary>
    /// When true, the API server is unreachable through this proxy: every request's connection is dropped
    /// unanswered, and watches in progress are cut.
    /// </summary>
    public bool Down
    {
        get => _down;
        set
        {
            _down = value;
            if (value)
            {
                _hang.TrySetResult(); // requests held by a hang are dropped now
                foreach (var open in _open.Keys)
                {
                    try
                    {
                        open.Abort();
                    }
                    catch (ObjectDisposedException)
                    {
                        // The request completed meanwhile: nothing left to cut.
                    }
                }
            }
        }
    }

    private volatile bool _down;

    /// <summary>
    /// When true, the API server is slow to the point of not answering: new requests are held unanswered
    /// (until the client gives up, or the hang ends and they are forwarded, or <see cref="Down"/> drops
    /// them), and responses in progress, watches included, stop flowing until the hang ends.
    /// </summary>
    public bool Hang
    {
        get => _hang.Task.IsCompleted is false;
        set
        {
            if (value && _hang.Task.IsCompleted)
                _hang = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            else if (!value)
                _hang.TrySetResult();
        }
    }

    private volatile TaskCompletionSource _hang = Completed();

    private static TaskCompletionSource Completed()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        done.SetResult();
        return done;
    }

    /// <summary>Waits out a hang; false when the client gave up or the proxy went down meanwhile.</summary>
    private async Task<bool> WaitOutHangAsync(HttpContext context)
    {
        if (_hang.Task.IsCompleted)
            return !_down;
        try
        {
            await _hang.Task.WaitAsync(context.RequestAborted);
        }
        catch (OperationCanceledException)
        {
            return false;
        }

        return !_down;
    }

    /// <summary>Requests this matches are answered 403 Forbidden without reaching the API server, as by RBAC that does not grant them.</summary>
    public Func<HttpRequest, bool>? Forbid { get; set; }
    private readonly ConcurrentDictionary<HttpContext, byte> _open = new();

    /// <summary>Every non-read request that was forwarded, in arrival order.</summary>
    public IReadOnlyCollection<ProxiedWrite> Writes => _writes;

    public static async Task<ApiServerProxy> StartAsync(Uri apiServer)
    {
        var builder = WebApplication.CreateSlimBuilder(["--urls", "http://127.0.0.1:0"]);
        builder.Logging.ClearProviders();
        // The serving certificate is self-signed by kube-apiserver for this loopback run.
        var upstream = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator })
        { BaseAddress = apiServer, Timeout = Timeout.InfiniteTimeSpan };
        var app = builder.Build();
        var proxy = new ApiServerProxy(app, upstream);
        app.Run(proxy.ForwardAsync);
        await app.StartAsync();
        proxy.Address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return proxy;
    }

    private async Task ForwardAsync(HttpContext context)
    {
        _open[context] = 0;
        try
        {
            await ForwardCoreAsync(context);
        }
        finally
        {
            _open.TryRemove(context, out _);
        }
    }

    private async Task ForwardCoreAsync(HttpContext context)
    {
        var request = context.Request;
        var path = request.Path.Value ?? "/";
        var isLease = path.Contains("/leases", StringComparison.Ordinal);
        if (_down || !await WaitOutHangAsync(context))
        {
            context.Abort();
            return;
        }

        if (Forbid?.Invoke(request) == true)
        {
            context.Response.StatusCode = (int)HttpStatusCode.Forbidden;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"reason\":\"Forbidden\",\"code\":403}");
            return;
        }

        if (isLease && _blockLeases)
        {
            try
            {
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
            }

            return;
        }

        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method))
            _writes.Enqueue(new ProxiedWrite(DateTimeOffset.UtcNow, request.Method, path, isLease));

        using var outgoing = new HttpRequestMessage(new HttpMethod(request.Method), path + request.QueryString.Value);
        if (request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0)
        {
            outgoing.Content = new StreamContent(request.Body);
            outgoing.Content.Headers.ContentLength = request.ContentLength;
            if (request.ContentType is { } contentType)
                outgoing.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }

        foreach (var (name, values) in request.Headers)
        {
            if (name.Equals("Host", StringComparison.OrdinalIgnoreCase) || name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase)
                || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) || name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
                continue;
            outgoing.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
        }

        HttpResponseMessage response;
        try
        {
            response = await _upstream.SendAsync(outgoing, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
        }
        catch (Exception) when (context.RequestAborted.IsCancellationRequested)
        {
            return;
        }
        catch (HttpRequestException)
        {
            context.Response.StatusCode = (int)HttpStatusCode.BadGateway;
            return;
        }

        using (response)
        {
            context.Response.StatusCode = (int)response.StatusCode;
            foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
            {
                if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
                    continue;
                context.Response.Headers[name] = values.ToArray();
            }

            try
            {
                // Watches are long chunked streams: pass each chunk on as it arrives.
                await using var body = await response.Content.ReadAsStreamAsync(context.RequestAborted);
                var buffer = new byte[16 * 1024];
                int read;
                while ((read = await body.ReadAsync(buffer, context.RequestAborted)) > 0)
                {
                    if (_down || !await WaitOutHangAsync(context))
                    {
                        context.Abort();
                        return;
                    }

                    await context.Response.Body.WriteAsync(buffer.AsMemory(0, read), context.RequestAborted);
                    await context.Response.Body.FlushAsync(context.RequestAborted);
                }
            }
            catch (Exception) when (context.RequestAborted.IsCancellationRequested)
            {
            }
            catch (IOException)
            {
                context.Abort();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
        _upstream.Dispose();
    }
}

/// <summary>A request that could change something on the API server, as the proxy saw it arrive.</summary>
public sealed record ProxiedWrite(DateTimeOffset At, string Method, string Path, bool IsLease);
