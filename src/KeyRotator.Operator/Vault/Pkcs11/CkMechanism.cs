namespace KeyRotator.Operator.Vault.Pkcs11;

/// <summary>CK_MECHANISM as the module reads it.</summary>
internal unsafe struct CkMechanism
{
    public nuint Type;
    public void* Parameter;
    public nuint ParameterLength;
}
