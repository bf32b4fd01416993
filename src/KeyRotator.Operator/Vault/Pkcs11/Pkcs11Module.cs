using System.Runtime.InteropServices;
using System.Text;

namespace KeyRotator.Operator.Vault.Pkcs11;

/// <summary>
/// A PKCS#11 module (a vendor's .so), loaded and initialized once, reached through its function list.
/// Our own binding for the few calls the key store makes, because Pkcs11Interop's delegates and structure
/// marshalling do not work in the Native AOT binary (docs/benchmarks.md, "Native AOT: where each
/// dependency stands"). Never finalized: a module is initialized once per process and lives with it.
/// </summary>
internal sealed unsafe class Pkcs11Module
{
    private const int TokenInfoSize = 512; // CK_TOKEN_INFO is 208 bytes on LP64; room to spare
    private const int TokenLabelLength = 32;

    private readonly CkFunctionList* _functions;

    private Pkcs11Module(CkFunctionList* functions) => _functions = functions;

    /// <summary>Loads the module at <paramref name="path"/> and calls C_Initialize (OS locking: called from many threads).</summary>
    public static Pkcs11Module Load(string path)
    {
        if (OperatingSystem.IsWindows() || !Environment.Is64BitProcess)
            throw new PlatformNotSupportedException("the PKCS#11 binding is for 64-bit Linux and macOS, where CK_ULONG is 64 bits");
        var library = NativeLibrary.Load(path);
        var getFunctionList = (delegate* unmanaged<CkFunctionList**, nuint>)NativeLibrary.GetExport(library, "C_GetFunctionList");
        CkFunctionList* functions;
        Pkcs11Exception.ThrowUnlessOk("C_GetFunctionList", getFunctionList(&functions));
        var arguments = new CkInitializeArgs { Flags = Cryptoki.OsLockingOk };
        var initialized = functions->Initialize(&arguments);
        if ((CryptokiResult)initialized != CryptokiResult.CKR_CRYPTOKI_ALREADY_INITIALIZED)
            Pkcs11Exception.ThrowUnlessOk("C_Initialize", initialized);
        return new Pkcs11Module(functions);
    }

    /// <summary>The slots that hold a token now (C_GetSlotList).</summary>
    public IReadOnlyList<nuint> SlotsWithToken()
    {
        while (true)
        {
            nuint count = 0;
            Pkcs11Exception.ThrowUnlessOk("C_GetSlotList", _functions->GetSlotList(Cryptoki.True, null, &count));
            var slots = new nuint[count];
            fixed (nuint* list = slots)
            {
                var listed = _functions->GetSlotList(Cryptoki.True, list, &count);
                if ((CryptokiResult)listed == CryptokiResult.CKR_BUFFER_TOO_SMALL)
                    continue; // a token arrived between the two calls
                Pkcs11Exception.ThrowUnlessOk("C_GetSlotList", listed);
            }

            return slots[..(int)count];
        }
    }

    /// <summary>The label of the token in <paramref name="slot"/> (C_GetTokenInfo), blank padding included.</summary>
    public string TokenLabel(nuint slot)
    {
        var info = stackalloc byte[TokenInfoSize];
        Pkcs11Exception.ThrowUnlessOk("C_GetTokenInfo", _functions->GetTokenInfo(slot, info));
        return Encoding.UTF8.GetString(info, TokenLabelLength);
    }

    /// <summary>A read/write session on the token in <paramref name="slot"/> (C_OpenSession).</summary>
    public Pkcs11Session OpenSession(nuint slot)
    {
        nuint session;
        Pkcs11Exception.ThrowUnlessOk("C_OpenSession", _functions->OpenSession(slot, Cryptoki.SerialSession | Cryptoki.ReadWriteSession, null, null, &session));
        return new Pkcs11Session(_functions, session);
    }
}
