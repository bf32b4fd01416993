// Longer than 300 lines: one stateful stand-in for Key Vault's REST API and Entra ID's token endpoint; its routes share one store and one fault list, read best together.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Core.Pipeline;
using KeyRotator.Model.Jose;
using KeyRotator.Operator.Vault.Azure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace KeyRotator.Testing.Azure;

/// <summary>What the fake saw: one HTTP request to a vault.</summary>
public sealed record VaultRequest(string Method, string Host, string Path, string Query, bool Authorized, string Body, int Status);

/// <summary>One token request to the Entra ID stand-in.</summary>
public sealed record LoginRequest(string Tenant, string ClientId, string ClientAssertion, string Scope, string GrantType);

/// <summary>A failure the fake answers with instead of serving a request.</summary>
public sealed record VaultFault(int Status, string Code, string Message)
{
    public TimeSpan? RetryAfter { get; init; }

    /// <summary>Never answer (the client's timeout fires).</summary>
    public bool Hang { get; init; }

    /// <summary>With <see cref="Hang"/>: carry the request out first, then never answer (the answer is lost).</summary>
    public bool ServeFirst { get; init; }

    /// <summary>Answer 200 with this body instead of an error.</summary>
    public string? RawBody { get; init; }

    public static VaultFault Throttled => new(429, "Throttled", "Request was not processed because too many requests were received.") { RetryAfter = TimeSpan.FromSeconds(1) };

    public static VaultFault ServerError => new(500, "InternalServerError", "An unexpected error occurred.");

    public static VaultFault Unavailable => new(503, "ServiceUnavailable", "The service is temporarily unavailable.");

    public static VaultFault Forbidden => new(403, "Forbidden", "The user, group or application does not have keys create permission on key vault.");

    public static VaultFault Timeout => new(0, "", "") { Hang = true };

    /// <summary>The vault does the work, but its answer never arrives.</summary>
    public static VaultFault LostAnswer => new(0, "", "") { Hang = true, ServeFirst = true };

    public static VaultFault MalformedJson => new(200, "", "") { RawBody = "{\"key\": {\"kid\": \"https://trunc" };

    /// <summary>A fault by the name tests use in their theory data.</summary>
    public static VaultFault Named(string name) => name switch
    {
        "throttled" => Throttled,
        "server error" => ServerError,
        "unavailable" => Unavailable,
        "forbidden" => Forbidden,
        "timeout" => Timeout,
        "malformed" => MalformedJson,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "no such fault"),
    };

    /// <summary>The token is no longer accepted: 401 with a fresh challenge.</summary>
    public static VaultFault Unauthorized => new(401, "Unauthorized", "AKV10032: Invalid issuer.");
}

/// <summary>
/// A loopback HTTPS stand-in for Azure Key Vault's keys API (7.4), built to answer as the real
/// service does in the recordings under ../shared/fixtures/azure-keyvault: challenge-based 401s,
/// key bundles, paged version lists with nextLink, soft delete with 409
/// ObjectIsDeletedButRecoverable, purge, recover, sign (raw R||S for EC), and the documented create
/// limits (20 software / 10 HSM per 10 s per vault) answered with 429 Throttled. Any vault host
/// (contoso.vault.azure.net) reaches it through <see cref="Transport"/>. It can also replay a
/// recording exactly, and inject faults.
/// </summary>
public sealed class AzureKeyVaultFake : IAsyncDisposable
{
    public const string Tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    private static readonly TimeSpan LimitWindow = TimeSpan.FromSeconds(10);

    private readonly WebApplication _app;
    private readonly X509Certificate2 _certificate;
    private readonly ConcurrentDictionary<string, VaultState> _vaults = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<(Func<VaultRequest, bool> When, VaultFault Fault, int Times)> _faults = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private Queue<JsonElement>? _replay;
    private JsonElement _lastBundle;
    private int _throttled;

    private AzureKeyVaultFake(WebApplication app, X509Certificate2 certificate)
    {
        _app = app;
        _certificate = certificate;
    }

    public int Port { get; private set; }

    /// <summary>The resource the 401 challenge names.</summary>
    public string ChallengeResource { get; set; } = "https://vault.azure.net";

    /// <summary>Answer every request with 503, as a vault (or the network to it) that is down.</summary>
    public bool Down { get; set; }

    /// <summary>Enforce Key Vault's documented create limits with 429s.</summary>
    public bool EnforceLimits { get; set; } = true;

    /// <summary>Versions per page of a version list (small, so every list follows nextLink).</summary>
    public int PageSize { get; set; } = 2;

    /// <summary>Called after each successful create (key made, answer not yet sent).</summary>
    public Action<string>? OnCreated { get; set; }

    /// <summary>How many creates the fake refused with 429 because the documented limit was exceeded.</summary>
    public int ThrottledByLimit => Volatile.Read(ref _throttled);

    public ConcurrentQueue<VaultRequest> Requests { get; } = new();

    /// <summary>Problems found while replaying a recording (a request that differs from the recorded one).</summary>
    public ConcurrentQueue<string> ReplayMismatches { get; } = new();

    public static async Task<AzureKeyVaultFake> StartAsync()
    {
        var certificate = CreateCertificate();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.UseHttps(certificate)));
        var app = builder.Build();
        var fake = new AzureKeyVaultFake(app, certificate);
        app.Run(fake.HandleAsync);
        await app.StartAsync();
        fake.Port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
        return fake;
    }

    /// <summary>Sends every vault host's traffic to this fake, trusting only its certificate.</summary>
    public HttpPipelineTransport Transport => new HttpClientTransport(new SocketsHttpHandler
    {
        ConnectCallback = async (_, cancellationToken) =>
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(IPAddress.Loopback, Port, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
        SslOptions = new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null && certificate.GetCertHashString() == _certificate.GetCertHashString(),
        },
    });

    /// <summary>Client options for tests: this transport, short backoff and timeout.</summary>
    public KeyVaultClientOptions ClientOptions(int maxRetries = 3, double timeoutSeconds = 2)
    {
        var options = new KeyVaultClientOptions { Transport = Transport };
        options.Retry.MaxRetries = maxRetries;
        options.Retry.Delay = TimeSpan.FromMilliseconds(100);
        options.Retry.MaxDelay = TimeSpan.FromSeconds(2);
        options.Retry.NetworkTimeout = TimeSpan.FromSeconds(timeoutSeconds);
        return options;
    }

    /// <summary>Answers requests matching <paramref name="when"/> with <paramref name="fault"/>, <paramref name="times"/> times.</summary>
    public void Inject(Func<VaultRequest, bool> when, VaultFault fault, int times = int.MaxValue)
    {
        lock (_faults)
            _faults.Add((when, fault, times));
    }

    public void ClearFaults()
    {
        lock (_faults)
            _faults.Clear();
    }

    /// <summary>Serves the recorded exchanges of one fixture file, in order, checking each request against the recording.</summary>
    public void Replay(string fixtureFile)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(fixtureFile));
        _replay = new Queue<JsonElement>(document.RootElement.GetProperty("exchanges").EnumerateArray().Select(e => e.Clone()));
    }

    public int PendingReplay => _replay?.Count ?? 0;

    /// <summary>The versions the vault holds for a key (deleted keys excluded), oldest first.</summary>
    public IReadOnlyList<FakeKeyVersion> Versions(string host, string name)
    {
        var vault = Vault(host);
        lock (vault)
            return vault.Keys.TryGetValue(name, out var versions) ? [.. versions] : [];
    }

    public bool IsSoftDeleted(string host, string name)
    {
        var vault = Vault(host);
        lock (vault)
            return vault.Deleted.ContainsKey(name);
    }

    /// <summary>Soft-deletes a key with all its versions, as `az keyvault key delete` does.</summary>
    public void SoftDelete(string host, string name)
    {
        var vault = Vault(host);
        lock (vault)
        {
            if (vault.Keys.Remove(name, out var versions))
                vault.Deleted[name] = versions;
        }
    }

    /// <summary>Recovers a soft-deleted key with all its versions, as `az keyvault key recover` does.</summary>
    public void Recover(string host, string name)
    {
        var vault = Vault(host);
        lock (vault)
        {
            if (vault.Deleted.Remove(name, out var versions))
                vault.Keys[name] = versions;
        }
    }

    /// <summary>Puts a soft-deleted key named <paramref name="name"/> in the vault, as a deleted earlier set leaves.</summary>
    public void SeedSoftDeleted(string host, string name)
    {
        var vault = Vault(host);
        lock (vault)
            vault.Deleted[name] = [FakeKeyVersion.Create(host, name, "EC", "P-256", 0, new Dictionary<string, string> { ["owner"] = "earlier" })];
    }

    private VaultState Vault(string host) => _vaults.GetOrAdd(host, _ => new VaultState());

    private async Task HandleAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body);
        var body = await reader.ReadToEndAsync(context.RequestAborted);
        var request = context.Request;
        var authorized = request.Headers.Authorization.ToString() is { } auth && auth.StartsWith("Bearer " + FakeTokenCredential.TokenPrefix, StringComparison.Ordinal);
        var seen = new VaultRequest(request.Method, request.Host.Host, request.Path.Value ?? "", request.QueryString.Value ?? "", authorized, body, 0);
        var (status, headers, payload) = await AnswerAsync(seen, context.RequestAborted);
        Requests.Enqueue(seen with { Status = status });
        context.Response.StatusCode = status;
        foreach (var (name, value) in headers)
            context.Response.Headers[name] = value;
        if (payload is not null)
        {
            context.Response.ContentType = "application/json; charset=utf-8";
            await context.Response.WriteAsync(payload, context.RequestAborted);
        }
    }

    private async Task<(int Status, Dictionary<string, string> Headers, string? Body)> AnswerAsync(VaultRequest request, CancellationToken aborted)
    {
        if (request.Host.StartsWith("login.", StringComparison.OrdinalIgnoreCase))
            return Login(request);
        if (_replay is not null)
            return ReplayNext(request);
        if (Down)
            return Error(VaultFault.Unavailable);
        if (!request.Authorized)
            return Challenge();

        VaultFault? fault = null;
        lock (_faults)
        {
            for (var i = 0; i < _faults.Count; i++)
            {
                var (when, f, times) = _faults[i];
                if (!when(request))
                    continue;
                fault = f;
                _faults[i] = (when, f, times - 1);
                if (times - 1 <= 0)
                    _faults.RemoveAt(i);
                break;
            }
        }

        if (fault is not null)
        {
            if (fault.Hang)
            {
                if (fault.ServeFirst)
                    Route(request);
                await Task.Delay(Timeout.InfiniteTimeSpan, aborted).ContinueWith(_ => { }, TaskScheduler.Default);
                return (499, [], null);
            }

            if (fault.RawBody is not null)
                return (fault.Status, [], fault.RawBody);
            return fault.Status == 401 ? Challenge() : Error(fault);
        }

        try
        {
            return Route(request);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return Error(new VaultFault(400, "BadParameter", $"The request body is not valid: {e.Message}"));
        }
    }

    private (int, Dictionary<string, string>, string?) Route(VaultRequest request)
    {
        var segments = request.Path.Trim('/').Split('/');
        var vault = Vault(request.Host);
        var query = System.Web.HttpUtility.ParseQueryString(request.Query);
        if (string.IsNullOrEmpty(query["api-version"]))
            return Error(new VaultFault(400, "BadParameter", "The api-version query parameter is missing."));

        lock (vault)
        {
            switch (request.Method, segments)
            {
                case ("POST", ["keys", var name, "create"]):
                    return Create(vault, request, name);
                case ("GET", ["keys", var name, "versions"]):
                    return List(vault, request.Host, name, query);
                case ("GET", ["keys", var name]):
                    return Bundle(vault, name, null);
                case ("GET", ["keys", var name, var version]):
                    return Bundle(vault, name, version);
                case ("PATCH", ["keys", var name, var version]):
                    return Update(vault, name, version, request.Body);
                case ("POST", ["keys", var name, var version, "sign"]):
                    return Sign(vault, name, version, request.Body);
                case ("DELETE", ["keys", var name]):
                    if (!vault.Keys.Remove(name, out var deleted))
                        return NotFound(name);
                    vault.Deleted[name] = deleted;
                    return Ok(BundleJson(deleted[^1]));
                case ("DELETE", ["deletedkeys", var name]):
                    return vault.Deleted.Remove(name) ? (204, [], null) : Error(new VaultFault(404, "KeyNotFound", $"Deleted Key not found: {name}"));
                case ("POST", ["deletedkeys", var name, "recover"]):
                    if (!vault.Deleted.Remove(name, out var recovered))
                        return Error(new VaultFault(404, "KeyNotFound", $"Deleted Key not found: {name}"));
                    vault.Keys[name] = recovered;
                    return Ok(BundleJson(recovered[^1]));
                default:
                    return Error(new VaultFault(400, "BadParameter", $"{request.Method} {request.Path} is not an operation of the keys API"));
            }
        }
    }

    private (int, Dictionary<string, string>, string?) Create(VaultState vault, VaultRequest request, string name)
    {
        if (vault.Deleted.ContainsKey(name))
        {
            return (409, [], JsonSerializer.Serialize(new
            {
                error = new
                {
                    code = "Conflict",
                    message = $"Key {name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the key can only be recovered or purged.",
                    innererror = new { code = "ObjectIsDeletedButRecoverable" },
                },
            }));
        }

        var body = JsonNode.Parse(request.Body)!.AsObject();
        var kty = body["kty"]!.GetValue<string>();
        var hsm = kty.EndsWith("-HSM", StringComparison.Ordinal);
        if (EnforceLimits)
        {
            var now = _clock.Elapsed;
            var stamps = hsm ? vault.HsmCreates : vault.SoftwareCreates;
            while (stamps.Count > 0 && stamps.Peek() + LimitWindow <= now)
                stamps.Dequeue();
            if (stamps.Count >= (hsm ? 10 : 20))
            {
                Interlocked.Increment(ref _throttled);
                return Error(VaultFault.Throttled with { RetryAfter = stamps.Peek() + LimitWindow - now });
            }

            stamps.Enqueue(now);
        }

        if (body["key_ops"] is JsonArray ops && ops.Any(o => o!.GetValue<string>() is not ("sign" or "verify")))
            return Error(new VaultFault(400, "BadParameter", "key_ops holds an operation this test vault does not expect"));
        var tags = body["tags"] is JsonObject t ? t.ToDictionary(p => p.Key, p => p.Value!.GetValue<string>(), StringComparer.Ordinal) : [];
        FakeKeyVersion version;
        switch (kty)
        {
            case "EC" or "EC-HSM":
                var crv = body["crv"]?.GetValue<string>() ?? "P-256";
                if (crv is not ("P-256" or "P-384" or "P-521"))
                    return Error(new VaultFault(400, "BadParameter", $"Unsupported curve {crv}"));
                version = FakeKeyVersion.Create(request.Host, name, kty, crv, 0, tags);
                break;
            case "RSA" or "RSA-HSM":
                var size = body["key_size"]?.GetValue<int>() ?? 2048;
                if (size is not (2048 or 3072 or 4096))
                    return Error(new VaultFault(400, "BadParameter", $"Unsupported key size {size}"));
                version = FakeKeyVersion.Create(request.Host, name, kty, null, size, tags);
                break;
            default:
                return Error(new VaultFault(400, "BadParameter", $"Unsupported key type {kty}"));
        }

        if (!vault.Keys.TryGetValue(name, out var versions))
            vault.Keys[name] = versions = [];
        versions.Add(version);
        OnCreated?.Invoke(name);
        return Ok(BundleJson(version));
    }

    private (int, Dictionary<string, string>, string?) List(VaultState vault, string host, string name, System.Collections.Specialized.NameValueCollection query)
    {
        if (!vault.Keys.TryGetValue(name, out var versions))
            return NotFound(name);
        var skip = int.TryParse(query["$skiptoken"], CultureInfo.InvariantCulture, out var s) ? s : 0;
        var size = Math.Min(PageSize, int.TryParse(query["maxresults"], CultureInfo.InvariantCulture, out var m) ? m : 25);
        var page = versions.Skip(skip).Take(size).Select(v => new JsonObject
        {
            ["kid"] = v.KeyId,
            ["attributes"] = Attributes(v),
            ["tags"] = Tags(v),
        }).ToArray<JsonNode?>();
        var next = skip + size < versions.Count
            ? $"https://{host}/keys/{name}/versions?api-version={query["api-version"]}&$skiptoken={skip + size}&maxresults={size}"
            : null;
        return Ok(new JsonObject { ["value"] = new JsonArray(page), ["nextLink"] = next }.ToJsonString());
    }

    private static (int, Dictionary<string, string>, string?) Bundle(VaultState vault, string name, string? version)
    {
        if (!vault.Keys.TryGetValue(name, out var versions))
            return NotFound(name);
        var found = string.IsNullOrEmpty(version) ? versions[^1] : versions.FirstOrDefault(v => v.Version == version);
        return found is null ? NotFound($"{name}/{version}") : Ok(BundleJson(found));
    }

    private static (int, Dictionary<string, string>, string?) Update(VaultState vault, string name, string version, string body)
    {
        var found = vault.Keys.GetValueOrDefault(name)?.FirstOrDefault(v => v.Version == version);
        if (found is null)
            return NotFound($"{name}/{version}");
        var patch = JsonNode.Parse(body)!.AsObject();
        if (patch["attributes"]?["enabled"] is { } enabled)
            found.Enabled = enabled.GetValue<bool>();
        if (patch["tags"] is JsonObject tags)
            found.Tags = tags.ToDictionary(p => p.Key, p => p.Value!.GetValue<string>(), StringComparer.Ordinal);
        return Ok(BundleJson(found));
    }

    private static (int, Dictionary<string, string>, string?) Sign(VaultState vault, string name, string version, string body)
    {
        var found = vault.Keys.GetValueOrDefault(name)?.FirstOrDefault(v => v.Version == version);
        if (found is null)
            return NotFound($"{name}/{version}");
        if (!found.Enabled)
            return Error(new VaultFault(403, "Forbidden", "Operation sign is not allowed on a disabled key."));
        var request = JsonNode.Parse(body)!.AsObject();
        var algorithm = JwsAlgorithm.Parse(request["alg"]!.GetValue<string>());
        var digest = Base64Url.Decode(request["value"]!.GetValue<string>());
        var signature = found.SignDigest(algorithm, digest);
        return Ok(new JsonObject { ["kid"] = found.KeyId, ["value"] = Base64Url.Encode(signature) }.ToJsonString());
    }

    /// <summary>
    /// Entra ID's token endpoint, enough for Azure.Identity's WorkloadIdentityCredential: the client
    /// assertion (the federated service-account token) is exchanged for an access token.
    /// </summary>
    private (int, Dictionary<string, string>, string?) Login(VaultRequest request)
    {
        var segments = request.Path.Trim('/').Split('/');
        if (request.Method == "GET" && request.Path.EndsWith("/.well-known/openid-configuration", StringComparison.Ordinal))
        {
            var authority = $"https://{request.Host}/{segments[0]}";
            return Ok(new JsonObject
            {
                ["issuer"] = $"https://login.microsoftonline.com/{segments[0]}/v2.0",
                ["authorization_endpoint"] = $"{authority}/oauth2/v2.0/authorize",
                ["token_endpoint"] = $"{authority}/oauth2/v2.0/token",
                ["jwks_uri"] = $"https://{request.Host}/{segments[0]}/discovery/v2.0/keys",
            }.ToJsonString());
        }

        if (request.Method == "POST" && request.Path.EndsWith("/oauth2/v2.0/token", StringComparison.Ordinal))
        {
            var form = System.Web.HttpUtility.ParseQueryString(request.Body);
            LoginRequests.Enqueue(new LoginRequest(segments[0], form["client_id"] ?? "", form["client_assertion"] ?? "", form["scope"] ?? "", form["grant_type"] ?? ""));
            if (form["grant_type"] != "client_credentials" || string.IsNullOrEmpty(form["client_assertion"]))
                return (400, [], JsonSerializer.Serialize(new { error = "invalid_request", error_description = "AADSTS900144: The request body must contain the client_assertion parameter." }));
            return Ok(JsonSerializer.Serialize(new
            {
                token_type = "Bearer",
                expires_in = 3599,
                ext_expires_in = 3599,
                access_token = FakeTokenCredential.TokenPrefix + "wi-" + Guid.NewGuid().ToString("N"),
            }));
        }

        return (404, [], JsonSerializer.Serialize(new { error = "not_found", error_description = $"{request.Method} {request.Path} is not served by this stand-in" }));
    }

    /// <summary>What Entra ID's token endpoint was asked.</summary>
    public ConcurrentQueue<LoginRequest> LoginRequests { get; } = new();

    private (int, Dictionary<string, string>, string?) Challenge() =>
        (401, new Dictionary<string, string> { ["WWW-Authenticate"] = $"Bearer authorization=\"https://login.windows.net/{Tenant}\", resource=\"{ChallengeResource}\"" },
            JsonSerializer.Serialize(new { error = new { code = "Unauthorized", message = "AKV10000: Request is missing a Bearer or PoP token." } }));

    private (int, Dictionary<string, string>, string?) ReplayNext(VaultRequest request)
    {
        var queue = _replay!;
        lock (queue)
        {
            if (queue.Count == 0)
            {
                ReplayMismatches.Enqueue($"unexpected {request.Method} {request.Path}: the recording has no more exchanges");
                return Error(new VaultFault(400, "BadParameter", "not in the recording"));
            }

            var exchange = queue.Peek();
            var recorded = exchange.GetProperty("request");
            var response = exchange.GetProperty("response");
            var recordedChallenge = response.GetProperty("status").GetInt32() == 401;
            if (!request.Authorized && !recordedChallenge)
                return Challenge(); // the recording was made with the challenge already cached

            queue.Dequeue();
            if (recorded.GetProperty("method").GetString() != request.Method || recorded.GetProperty("path").GetString() != request.Path)
                ReplayMismatches.Enqueue($"expected {recorded.GetProperty("method")} {recorded.GetProperty("path")}, got {request.Method} {request.Path}");
            if (recordedChallenge && request.Authorized)
                ReplayMismatches.Enqueue($"{request.Path}: the first request carried a token before any challenge");
            var recordedBody = recorded.GetProperty("body");
            if (recordedBody.ValueKind == JsonValueKind.Null && request.Body.Length > 0)
                ReplayMismatches.Enqueue($"{request.Path}: a body was sent before the vault authenticated the caller");
            if (recordedBody.ValueKind == JsonValueKind.Object)
            {
                var sent = JsonNode.Parse(request.Body.Length > 0 ? request.Body : "{}")!.AsObject();
                foreach (var property in recordedBody.EnumerateObject())
                {
                    if (!JsonNode.DeepEquals(sent[property.Name], JsonNode.Parse(property.Value.GetRawText())))
                        ReplayMismatches.Enqueue($"{request.Path}: body.{property.Name} was {sent[property.Name]?.ToJsonString() ?? "missing"}, recorded {property.Value.GetRawText()}");
                }
            }

            var headers = new Dictionary<string, string>();
            if (response.TryGetProperty("headers", out var h))
            {
                foreach (var header in h.EnumerateObject())
                    headers[header.Name] = header.Value.GetString()!;
            }

            var responseBody = response.GetProperty("body");
            string? text;
            if (responseBody.ValueKind == JsonValueKind.String)
            {
                text = _lastBundle.GetRawText(); // "same key bundle as the create response"
            }
            else
            {
                text = responseBody.GetRawText();
                if (responseBody.ValueKind == JsonValueKind.Object && responseBody.TryGetProperty("key", out _))
                    _lastBundle = responseBody.Clone();
            }

            return (response.GetProperty("status").GetInt32(), headers, text);
        }
    }

    private static (int, Dictionary<string, string>, string?) Ok(string body) => (200, [], body);

    private static (int, Dictionary<string, string>, string?) NotFound(string what) =>
        Error(new VaultFault(404, "KeyNotFound", $"A key with (name/id) {what} was not found in this key vault."));

    private static (int, Dictionary<string, string>, string?) Error(VaultFault fault)
    {
        var headers = new Dictionary<string, string>();
        if (fault.RetryAfter is { } retry)
            headers["Retry-After"] = Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        return (fault.Status, headers, JsonSerializer.Serialize(new { error = new { code = fault.Code, message = fault.Message } }));
    }

    private static string BundleJson(FakeKeyVersion version)
    {
        var key = version.PublicJwk();
        return new JsonObject { ["key"] = key, ["attributes"] = Attributes(version), ["tags"] = Tags(version) }.ToJsonString();
    }

    private static JsonObject Attributes(FakeKeyVersion v) => new()
    {
        ["enabled"] = v.Enabled,
        ["created"] = v.Created,
        ["updated"] = v.Created,
        ["recoveryLevel"] = "CustomizedRecoverable+Purgeable",
        ["recoverableDays"] = 7,
        ["exportable"] = false,
    };

    private static JsonObject Tags(FakeKeyVersion v) => new(v.Tags.Select(t => KeyValuePair.Create(t.Key, (JsonNode?)t.Value)));

    private static X509Certificate2 CreateCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=*.vault.azure.net", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("*.vault.azure.net");
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _certificate.Dispose();
    }

    private sealed class VaultState
    {
        public Dictionary<string, List<FakeKeyVersion>> Keys { get; } = new(StringComparer.OrdinalIgnoreCase);

        public Dictionary<string, List<FakeKeyVersion>> Deleted { get; } = new(StringComparer.OrdinalIgnoreCase);

        public Queue<TimeSpan> SoftwareCreates { get; } = new();

        public Queue<TimeSpan> HsmCreates { get; } = new();
    }
}

/// <summary>One key version in the fake vault; its private half never leaves the fake.</summary>
public sealed class FakeKeyVersion
{
    private RSA? _rsa;
    private ECDsa? _ec;

    public required string KeyId { get; init; }

    public required string Version { get; init; }

    public required string Kty { get; init; }

    public string? Crv { get; init; }

    public bool Enabled { get; set; } = true;

    public long Created { get; init; }

    public Dictionary<string, string> Tags { get; set; } = new(StringComparer.Ordinal);

    internal static FakeKeyVersion Create(string host, string name, string kty, string? crv, int size, Dictionary<string, string> tags)
    {
        var version = Guid.NewGuid().ToString("N");
        var key = new FakeKeyVersion
        {
            KeyId = $"https://{host}/keys/{name}/{version}",
            Version = version,
            Kty = kty,
            Crv = crv,
            Created = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            Tags = tags,
        };
        if (crv is null)
        {
            key._rsa = RSA.Create(size);
        }
        else
        {
            key._ec = ECDsa.Create(crv switch { "P-256" => ECCurve.NamedCurves.nistP256, "P-384" => ECCurve.NamedCurves.nistP384, _ => ECCurve.NamedCurves.nistP521 });
        }

        return key;
    }

    /// <summary>The public key as the vault's JSON (kid is the version URL).</summary>
    public JsonObject PublicJwk()
    {
        var ops = new JsonArray("sign", "verify");
        if (_rsa is not null)
        {
            var p = _rsa.ExportParameters(false);
            return new JsonObject { ["kid"] = KeyId, ["kty"] = Kty, ["key_ops"] = ops, ["n"] = Base64Url.Encode(p.Modulus!), ["e"] = Base64Url.Encode(p.Exponent!) };
        }

        var q = _ec!.ExportParameters(false);
        return new JsonObject { ["kid"] = KeyId, ["kty"] = Kty, ["key_ops"] = ops, ["crv"] = Crv, ["x"] = Base64Url.Encode(q.Q.X!), ["y"] = Base64Url.Encode(q.Q.Y!) };
    }

    internal byte[] SignDigest(JwsAlgorithm algorithm, byte[] digest) => algorithm.Family switch
    {
        KeyFamily.Ec => _ec!.SignHash(digest),
        KeyFamily.RsaPkcs1 => _rsa!.SignHash(digest, algorithm.Hash, RSASignaturePadding.Pkcs1),
        _ => _rsa!.SignHash(digest, algorithm.Hash, RSASignaturePadding.Pss),
    };
}
