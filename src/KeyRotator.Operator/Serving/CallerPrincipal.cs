using System.Security.Claims;
using k8s.Models;

namespace KeyRotator.Operator.Serving;

/// <summary>
/// An authenticated caller as the HTTP room's schemes hand it on: the user the API server vouched for
/// (name, uid, groups, extras as claims), and whether another replica passed the report on.
/// </summary>
public static class CallerPrincipal
{
    /// <summary>A report another replica accepted and passed on; its caller was authorized there.</summary>
    public const string ForwardedClaim = "keyrotator.io/forwarded";

    /// <summary>The user extra a TokenReview answers for a token bound to a pod: the pod's name.</summary>
    public const string PodNameExtra = "authentication.kubernetes.io/pod-name";

    private const string UidClaim = "keyrotator.io/uid";
    private const string GroupClaim = "keyrotator.io/group";
    private const string ExtraClaim = "keyrotator.io/extra/";

    public static bool IsForwarded(ClaimsPrincipal user) => user.HasClaim(ForwardedClaim, "true");

    /// <summary>
    /// The pod a caller's token is bound to, as the API server vouched for it (TokenReview's user extra);
    /// null for a token bound to no pod. A caller's instance is this, never a name it chooses, when there is one.
    /// </summary>
    public static string? PodOf(V1UserInfo user) =>
        user.Extra?.TryGetValue(PodNameExtra, out var pods) == true && pods is [{ Length: > 0 and <= 253 } pod] ? pod : null;

    /// <summary>The caller as the API server vouched for it (for SubjectAccessReview).</summary>
    public static V1UserInfo UserOf(ClaimsPrincipal user) => new()
    {
        Username = user.Identity?.Name,
        Uid = user.FindFirst(UidClaim)?.Value,
        Groups = [.. user.FindAll(GroupClaim).Select(c => c.Value)],
        Extra = user.Claims.Where(c => c.Type.StartsWith(ExtraClaim, StringComparison.Ordinal))
            .GroupBy(c => c.Type[ExtraClaim.Length..])
            .ToDictionary(g => g.Key, g => (IList<string>)[.. g.Select(c => c.Value)]),
    };

    /// <summary>The principal for <paramref name="name"/>; <paramref name="user"/> is null for a forwarded report (its caller is only named).</summary>
    public static ClaimsPrincipal Of(string name, V1UserInfo? user, bool forwarded, string scheme)
    {
        var claims = new List<Claim> { new(ClaimTypes.Name, name) };
        if (forwarded)
            claims.Add(new Claim(ForwardedClaim, "true"));
        if (user?.Uid is { } uid)
            claims.Add(new Claim(UidClaim, uid));
        claims.AddRange((user?.Groups ?? []).Select(g => new Claim(GroupClaim, g)));
        foreach (var (key, values) in user?.Extra ?? new Dictionary<string, IList<string>>())
            claims.AddRange(values.Select(v => new Claim(ExtraClaim + key, v)));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, scheme));
    }
}
