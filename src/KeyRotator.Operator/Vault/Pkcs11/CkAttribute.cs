namespace KeyRotator.Operator.Vault.Pkcs11;

/// <summary>CK_ATTRIBUTE as the module reads and writes it (blittable: no marshalling code needed, Native AOT included).</summary>
internal unsafe struct CkAttribute
{
    public nuint Type;
    public void* Value;
    public nuint ValueLength;
}
