using Microsoft.IdentityModel.Tokens;

namespace KeyRotator.Client;

/// <summary>Plugs <see cref="KeyRotatorTokenValidator"/> into ASP.NET Core's JwtBearer handler.</summary>
public sealed class KeyRotatorTokenHandler(KeyRotatorTokenValidator validator) : TokenHandler
{
    public override async Task<TokenValidationResult> ValidateTokenAsync(string token, TokenValidationParameters validationParameters)
    {
        var result = await validator.ValidateAsync(token);
        return result.IsValid
            ? new TokenValidationResult { IsValid = true, ClaimsIdentity = result.Identity }
            : new TokenValidationResult { IsValid = false, Exception = new SecurityTokenValidationException($"{result.Reason!.Value.ToTag()}: {result.Message}") };
    }
}
