using Microsoft.IdentityModel.Tokens;

namespace KeyRotator.Client;

/// <summary>One parsed JWKS: keys by kid and the algorithms they are for (the verifier's allow-list).</summary>
public sealed record JwksSnapshot(IReadOnlyDictionary<string, JsonWebKey> Keys, IReadOnlySet<string> Algorithms)
{
    public static JwksSnapshot Empty { get; } = new(new Dictionary<string, JsonWebKey>(), new HashSet<string>());

    /// <summary>Parses a JWKS, keeping only signature keys with a kid and an asymmetric alg.</summary>
    public static JwksSnapshot Parse(string json)
    {
        var set = new JsonWebKeySet(json);
        var keys = new Dictionary<string, JsonWebKey>(StringComparer.Ordinal);
        foreach (var key in set.Keys)
        {
            if (string.IsNullOrEmpty(key.Kid) || string.IsNullOrEmpty(key.Alg) || !KeyRotatorTokenValidator.IsAsymmetric(key.Alg))
                continue;
            if (!string.IsNullOrEmpty(key.Use) && key.Use != "sig")
                continue;
            keys[key.Kid] = key;
        }

        return new JwksSnapshot(keys, keys.Values.Select(k => k.Alg).ToHashSet(StringComparer.Ordinal));
    }
}
