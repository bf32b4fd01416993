using KeyRotator.Model.Jose;

namespace KeyRotator.Core.Lifecycle;

/// <summary>A key as the vault reports it: public half, rotation generation, where it lives.</summary>
public sealed record StoredKey(Jwk PublicJwk, long Generation, DateTimeOffset CreatedAt, string VaultRef, bool Enabled = true)
{
    public string Kid => PublicJwk.Kid;
}
