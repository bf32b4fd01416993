namespace KeyRotator.Model.Resources;

public sealed record SecretKeySelector
{
    public string Name { get; init; } = "";

    public string Key { get; init; } = "";
}
