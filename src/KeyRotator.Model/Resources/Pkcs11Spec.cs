namespace KeyRotator.Model.Resources;

public sealed record Pkcs11Spec
{
    /// <summary>Path of the PKCS#11 module inside the operator's container.</summary>
    public string Library { get; init; } = "";

    /// <summary>Label of the token the keys are generated on.</summary>
    public string TokenLabel { get; init; } = "";

    /// <summary>The Secret (in the set's namespace) that holds the user PIN.</summary>
    public SecretKeySelector PinSecretRef { get; init; } = new();
}
