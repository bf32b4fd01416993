using KeyRotator.Operator.Observability;
using KeyRotator.Operator.Runtime;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace KeyRotator.Operator.Serving;

/// <summary>
/// A JWKS fetch that carries a service-account token allowed to report for the set is an observation:
/// after it that caller (and the instance it names) holds this JWKS. The caller is checked as a report's
/// is, by the <see cref="ReportAuth.Scheme"/> scheme and the <see cref="ReportAuth.Policy"/> policy, but
/// in the background, so that the fetch never waits on a review and is never refused for its token. The
/// check runs on a request of its own that carries only the fetch's Authorization header and the set's
/// route values: nothing else the fetch sends (a forwarded-caller header) reaches the scheme. An anonymous
/// fetch, or one whose token does not pass, changes nothing: no state per caller, no reconcile, no log line.
/// </summary>
public sealed class JwksObservations(IServiceScopeFactory scopes, PropagationTracker propagation, ISigningKeySets controller)
    : Microsoft.Extensions.Hosting.BackgroundService
{
    /// <summary>Observations checked at once in the background; a fetch beyond that is served and not counted.</summary>
    private const int InFlight = 64;

    private readonly SemaphoreSlim _inFlight = new(InFlight);
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>Counts the fetch of <paramref name="hash"/> from the set ns/name when its token passes; returns at once.</summary>
    public void Observe(HttpContext context, string ns, string name, string hash)
    {
        if (BearerToken.Of(context.Request) is null || !_inFlight.Wait(0))
            return;
        var authorization = context.Request.Headers.Authorization;
        var instance = context.Request.Headers[JwksEndpoint.InstanceHeader].ToString();
        _ = Task.Run(async () =>
        {
            try
            {
                await using var scope = scopes.CreateAsyncScope();
                var check = new DefaultHttpContext { RequestServices = scope.ServiceProvider, RequestAborted = _stopping.Token };
                check.Request.Headers.Authorization = authorization;
                check.Request.RouteValues = new RouteValueDictionary { ["ns"] = ns, ["name"] = name };
                if (await check.AuthenticateAsync(ReportAuth.Scheme) is not { Succeeded: true, Principal: { } caller })
                    return;
                var authorized = await scope.ServiceProvider.GetRequiredService<IAuthorizationService>().AuthorizeAsync(caller, check, ReportAuth.Policy);
                if (!authorized.Succeeded)
                    return;
                // The pod the token is bound to; the header only for a token bound to no pod (bounded per caller by PropagationTracker).
                var user = CallerPrincipal.UserOf(caller);
                var identity = $"{user.Username}/{CallerPrincipal.PodOf(user) ?? (instance is { Length: > 0 and <= 253 } ? instance : "-")}";
                if (propagation.ObserveVerifier(ns, name, identity, hash))
                    controller.Enqueue(new SetKey(ns, name));
            }
            catch (OperationCanceledException)
            {
            }
            finally
            {
                _inFlight.Release();
            }
        });
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.CompletedTask;

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        await base.StopAsync(cancellationToken);
    }

    public override void Dispose()
    {
        _stopping.Dispose();
        _inFlight.Dispose();
        base.Dispose();
    }
}
