using System.Text;

namespace KeyRotator.Operator.Vault.Pkcs11;

/// <summary>One entry of a PKCS#11 template: an attribute type (CKA_*) and its value as the token stores it.</summary>
internal sealed record Pkcs11Attribute(nuint Type, byte[] Value)
{
    public static Pkcs11Attribute Bool(nuint type, bool value) => new(type, [value ? Cryptoki.True : Cryptoki.False]);

    /// <summary>A CK_ULONG value, in the platform's byte order.</summary>
    public static Pkcs11Attribute Number(nuint type, nuint value) => new(type, BitConverter.GetBytes((ulong)value));

    public static Pkcs11Attribute Text(nuint type, string value) => new(type, Encoding.UTF8.GetBytes(value));

    public static Pkcs11Attribute Bytes(nuint type, byte[] value) => new(type, value);
}
