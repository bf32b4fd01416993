namespace KeyRotator.Operator.Vault.Pkcs11;

/// <summary>
/// The head of CK_FUNCTION_LIST (Cryptoki 2.40, pkcs11f.h order) through C_GenerateKeyPair: the module's
/// version, then one function pointer per call. Read through the pointer C_GetFunctionList returns and
/// called with <c>delegate* unmanaged</c>, so no marshalling stub is needed (Pkcs11Interop's delegates and
/// Marshal.PtrToStructure have none under Native AOT). Entries the key store does not call stay untyped.
/// </summary>
#pragma warning disable CS0649 // written by the module, read through the pointer it hands out
internal unsafe struct CkFunctionList
{
    public byte VersionMajor;
    public byte VersionMinor;
    public delegate* unmanaged<CkInitializeArgs*, nuint> Initialize;
    public nint FinalizeModule;
    public nint GetInfo;
    public nint GetFunctionList;
    public delegate* unmanaged<byte, nuint*, nuint*, nuint> GetSlotList;
    public nint GetSlotInfo;
    public delegate* unmanaged<nuint, byte*, nuint> GetTokenInfo;
    public nint GetMechanismList;
    public nint GetMechanismInfo;
    public nint InitToken;
    public nint InitPIN;
    public nint SetPIN;
    public delegate* unmanaged<nuint, nuint, void*, void*, nuint*, nuint> OpenSession;
    public delegate* unmanaged<nuint, nuint> CloseSession;
    public nint CloseAllSessions;
    public nint GetSessionInfo;
    public nint GetOperationState;
    public nint SetOperationState;
    public delegate* unmanaged<nuint, nuint, byte*, nuint, nuint> Login;
    public delegate* unmanaged<nuint, nuint> Logout;
    public nint CreateObject;
    public nint CopyObject;
    public delegate* unmanaged<nuint, nuint, nuint> DestroyObject;
    public nint GetObjectSize;
    public delegate* unmanaged<nuint, nuint, CkAttribute*, nuint, nuint> GetAttributeValue;
    public delegate* unmanaged<nuint, nuint, CkAttribute*, nuint, nuint> SetAttributeValue;
    public delegate* unmanaged<nuint, CkAttribute*, nuint, nuint> FindObjectsInit;
    public delegate* unmanaged<nuint, nuint*, nuint, nuint*, nuint> FindObjects;
    public delegate* unmanaged<nuint, nuint> FindObjectsFinal;
    public nint EncryptInit;
    public nint Encrypt;
    public nint EncryptUpdate;
    public nint EncryptFinal;
    public nint DecryptInit;
    public nint Decrypt;
    public nint DecryptUpdate;
    public nint DecryptFinal;
    public nint DigestInit;
    public nint Digest;
    public nint DigestUpdate;
    public nint DigestKey;
    public nint DigestFinal;
    public delegate* unmanaged<nuint, CkMechanism*, nuint, nuint> SignInit;
    public delegate* unmanaged<nuint, byte*, nuint, byte*, nuint*, nuint> Sign;
    public nint SignUpdate;
    public nint SignFinal;
    public nint SignRecoverInit;
    public nint SignRecover;
    public nint VerifyInit;
    public nint Verify;
    public nint VerifyUpdate;
    public nint VerifyFinal;
    public nint VerifyRecoverInit;
    public nint VerifyRecover;
    public nint DigestEncryptUpdate;
    public nint DecryptDigestUpdate;
    public nint SignEncryptUpdate;
    public nint DecryptVerifyUpdate;
    public nint GenerateKey;
    public delegate* unmanaged<nuint, CkMechanism*, CkAttribute*, nuint, CkAttribute*, nuint, nuint*, nuint*, nuint> GenerateKeyPair;
}
#pragma warning restore CS0649
