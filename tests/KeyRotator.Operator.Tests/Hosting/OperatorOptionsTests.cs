using Microsoft.Extensions.Options;

namespace KeyRotator.Operator.Tests.Hosting;

/// <summary>Operator settings are checked when the process starts, with a message naming the setting.</summary>
public sealed class OperatorOptionsTests
{
    [Theory]
    [InlineData("KeyRotator:AzureKeyVault:SoftwareCreatesPer10Seconds", "50", "must be between 1 and Key Vault's limit of 20")]
    [InlineData("KeyRotator:AzureKeyVault:HsmCreatesPer10Seconds", "0", "must be between 1 and Key Vault's limit of 10")]
    [InlineData("KeyRotator:AzureKeyVault:MaxRetries", "-1", "KeyRotator:AzureKeyVault:MaxRetries must be between 0 and 10")]
    [InlineData("KeyRotator:AzureKeyVault:NetworkTimeout", "00:00:00", "KeyRotator:AzureKeyVault:NetworkTimeout must be positive")]
    [InlineData("KeyRotator:Workers", "0", "KeyRotator:Workers must be at least 1")]
    [InlineData("KeyRotator:Reports:MaxConcurrentReviews", "0", "KeyRotator:Reports:MaxConcurrentReviews must be at least 1")]
    [InlineData("KeyRotator:Reports:ReviewTimeout", "00:00:00", "KeyRotator:Reports:ReviewTimeout must be positive")]
    [InlineData("KeyRotator:MemoryTrimQuietPeriod", "-00:00:01", "KeyRotator:MemoryTrimQuietPeriod must be zero (off) or positive")]
    public async Task A_bad_setting_stops_start_up_with_a_message_naming_it(string key, string value, string message)
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(async () =>
        {
            await using var app = UnstartedOperator.Build($"--{key}", value);
            await app.StartAsync(TestContext.Current.CancellationToken);
        });

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }
}
