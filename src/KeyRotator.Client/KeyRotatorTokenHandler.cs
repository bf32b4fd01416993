using Microsoft.IdentityModel.Tokens;

namespace KeyRotator.Client;

/// <summary>Plugs <see cref="KeyRotatorTokenValidator"/> into ASP.NET Core's JwtBearer handler.</summary>
public sealed class KeyRotatorTokenHandler(KeyRotatorTokenValidator validator) : TokenHandler
{
    public override async Task<TokenValidationResult> ValidateTokenAsync(string token, TokenValidationParameters validationParameters)
    {
        var result = await validator.ValidateAsync(token);
        return result.IsValid
            // JwtBearer fails an authentication whose result carries no SecurityToken.
            ? new TokenValidationResult { IsValid = true, ClaimsIdentity = result.Identity, SecurityToken = result.Token }
            : new TokenValidationResult { IsValid = false, Exception = new SecurityTokenValidationException($"{result.Reason!.Value.ToTag()}: {result.Message}") };
    }
}
