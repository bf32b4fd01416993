namespace KeyRotator.Operator.Vault.Pkcs11;

/// <summary>
/// The PKCS#11 (Cryptoki 2.40) constants the key store uses, by their values in the standard's pkcs11t.h.
/// CK_ULONG is <see cref="nuint"/>: the binding is for LP64 platforms (64-bit Linux and macOS), where it
/// is 64 bits wide, as the operator's image is.
/// </summary>
internal static class Cryptoki
{
    public static readonly nuint UnavailableInformation = nuint.MaxValue;
    public const nuint UserTypeUser = 1;
    public const nuint OsLockingOk = 0x2;
    public const nuint ReadWriteSession = 0x2;
    public const nuint SerialSession = 0x4;
    public const byte True = 1;
    public const byte False = 0;

    /// <summary>CKA_*.</summary>
    public static class Attribute
    {
        public const nuint Class = 0x000;
        public const nuint Token = 0x001;
        public const nuint Private = 0x002;
        public const nuint Label = 0x003;
        public const nuint Id = 0x102;
        public const nuint Sensitive = 0x103;
        public const nuint Sign = 0x108;
        public const nuint Verify = 0x10A;
        public const nuint Modulus = 0x120;
        public const nuint ModulusBits = 0x121;
        public const nuint PublicExponent = 0x122;
        public const nuint Extractable = 0x162;
        public const nuint EcParams = 0x180;
        public const nuint EcPoint = 0x181;
    }

    /// <summary>CKO_*.</summary>
    public static class ObjectClass
    {
        public const nuint PublicKey = 0x2;
        public const nuint PrivateKey = 0x3;
    }

    /// <summary>CKM_*.</summary>
    public static class Mechanism
    {
        public const nuint RsaPkcsKeyPairGen = 0x0000;
        public const nuint Sha256RsaPkcs = 0x0040;
        public const nuint Sha384RsaPkcs = 0x0041;
        public const nuint Sha512RsaPkcs = 0x0042;
        public const nuint Sha256RsaPkcsPss = 0x0043;
        public const nuint Sha384RsaPkcsPss = 0x0044;
        public const nuint Sha512RsaPkcsPss = 0x0045;
        public const nuint Sha256 = 0x0250;
        public const nuint Sha384 = 0x0260;
        public const nuint Sha512 = 0x0270;
        public const nuint EcKeyPairGen = 0x1040;
        public const nuint Ecdsa = 0x1041;
    }

    /// <summary>CKG_*.</summary>
    public static class Mgf
    {
        public const nuint Mgf1Sha256 = 0x2;
        public const nuint Mgf1Sha384 = 0x3;
        public const nuint Mgf1Sha512 = 0x4;
    }
}
