using System.Runtime.InteropServices;

namespace KeyRotator.Operator.Vault.Pkcs11;

/// <summary>A PKCS#11 mechanism (CKM_*) and its parameter block as the token reads it, if it takes one.</summary>
internal sealed record Pkcs11Mechanism(nuint Type, byte[]? Parameter = null)
{
    /// <summary>RSA-PSS with its CK_RSA_PKCS_PSS_PARAMS: the hash (CKM_*), the mask generation function (CKG_*) and the salt length.</summary>
    public static Pkcs11Mechanism RsaPss(nuint type, nuint hash, nuint mgf, nuint saltLength)
    {
        ReadOnlySpan<nuint> parameters = [hash, mgf, saltLength];
        return new(type, MemoryMarshal.AsBytes(parameters).ToArray());
    }
}
