namespace KeyRotator.Operator.Vault.Pkcs11;

/// <summary>CK_C_INITIALIZE_ARGS: no mutex callbacks, CKF_OS_LOCKING_OK (the module may be called from many threads).</summary>
internal unsafe struct CkInitializeArgs
{
    public void* CreateMutex;
    public void* DestroyMutex;
    public void* LockMutex;
    public void* UnlockMutex;
    public nuint Flags;
    public void* Reserved;
}
