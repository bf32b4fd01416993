using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace KeyRotator.Operator.Vault.Pkcs11;

/// <summary>
/// One PKCS#11 session: the calls the key store makes, each checked (a return other than CKR_OK throws
/// <see cref="Pkcs11Exception"/>). Templates and data are copied into native memory for the call and freed
/// after it; the PIN's copy is zeroed. Not thread-safe: a session serves one caller at a time (the pool's rule).
/// </summary>
internal sealed unsafe class Pkcs11Session : IDisposable
{
    private const int FindBatch = 64;

    private readonly CkFunctionList* _functions;
    private readonly nuint _handle;
    private bool _closed;

    public Pkcs11Session(CkFunctionList* functions, nuint handle)
    {
        _functions = functions;
        _handle = handle;
    }

    public void Login(string pin)
    {
        var bytes = Encoding.UTF8.GetBytes(pin);
        try
        {
            fixed (byte* value = bytes)
                Pkcs11Exception.ThrowUnlessOk("C_Login", _functions->Login(_handle, Cryptoki.UserTypeUser, value, (nuint)bytes.Length));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }
    }

    public void Logout() => Pkcs11Exception.ThrowUnlessOk("C_Logout", _functions->Logout(_handle));

    /// <summary>C_GenerateKeyPair: the handles of the public and the private key.</summary>
    public (nuint Public, nuint Private) GenerateKeyPair(Pkcs11Mechanism mechanism, IReadOnlyList<Pkcs11Attribute> publicKey, IReadOnlyList<Pkcs11Attribute> privateKey)
    {
        using var native = new NativeMechanism(mechanism);
        using var publicTemplate = new NativeTemplate(publicKey);
        using var privateTemplate = new NativeTemplate(privateKey);
        nuint publicHandle, privateHandle;
        Pkcs11Exception.ThrowUnlessOk("C_GenerateKeyPair", _functions->GenerateKeyPair(_handle, native.Pointer,
            publicTemplate.Items, publicTemplate.Count, privateTemplate.Items, privateTemplate.Count, &publicHandle, &privateHandle));
        return (publicHandle, privateHandle);
    }

    /// <summary>Every object matching <paramref name="template"/> (C_FindObjectsInit, C_FindObjects, C_FindObjectsFinal).</summary>
    public List<nuint> FindObjects(IReadOnlyList<Pkcs11Attribute> template)
    {
        using var native = new NativeTemplate(template);
        Pkcs11Exception.ThrowUnlessOk("C_FindObjectsInit", _functions->FindObjectsInit(_handle, native.Items, native.Count));
        var found = new List<nuint>();
        try
        {
            var batch = stackalloc nuint[FindBatch];
            while (true)
            {
                nuint count;
                Pkcs11Exception.ThrowUnlessOk("C_FindObjects", _functions->FindObjects(_handle, batch, FindBatch, &count));
                if (count == 0)
                    return found;
                for (nuint i = 0; i < count; i++)
                    found.Add(batch[i]);
            }
        }
        finally
        {
            Pkcs11Exception.ThrowUnlessOk("C_FindObjectsFinal", _functions->FindObjectsFinal(_handle));
        }
    }

    /// <summary>
    /// The values of <paramref name="types"/> on an object (C_GetAttributeValue, asked for the lengths first);
    /// null for one the object does not have or will not reveal.
    /// </summary>
    public byte[]?[] GetAttributeValues(nuint handle, params ReadOnlySpan<nuint> types)
    {
        var count = types.Length;
        var items = (CkAttribute*)NativeMemory.AllocZeroed((nuint)count, (nuint)sizeof(CkAttribute));
        try
        {
            for (var i = 0; i < count; i++)
                items[i].Type = types[i];
            Readable("C_GetAttributeValue", _functions->GetAttributeValue(_handle, handle, items, (nuint)count));
            for (var i = 0; i < count; i++)
            {
                if (items[i].ValueLength != Cryptoki.UnavailableInformation)
                    items[i].Value = NativeMemory.Alloc(Math.Max(items[i].ValueLength, 1));
            }

            Readable("C_GetAttributeValue", _functions->GetAttributeValue(_handle, handle, items, (nuint)count));
            var values = new byte[]?[count];
            for (var i = 0; i < count; i++)
            {
                if (items[i].Value is not null && items[i].ValueLength != Cryptoki.UnavailableInformation)
                    values[i] = new ReadOnlySpan<byte>(items[i].Value, checked((int)items[i].ValueLength)).ToArray();
            }

            return values;
        }
        finally
        {
            for (var i = 0; i < count; i++)
                NativeMemory.Free(items[i].Value);
            NativeMemory.Free(items);
        }
    }

    public void SetAttributeValues(nuint handle, IReadOnlyList<Pkcs11Attribute> attributes)
    {
        using var native = new NativeTemplate(attributes);
        Pkcs11Exception.ThrowUnlessOk("C_SetAttributeValue", _functions->SetAttributeValue(_handle, handle, native.Items, native.Count));
    }

    public void DestroyObject(nuint handle) => Pkcs11Exception.ThrowUnlessOk("C_DestroyObject", _functions->DestroyObject(_handle, handle));

    /// <summary>C_SignInit and C_Sign (asked for the signature's length first).</summary>
    public byte[] Sign(Pkcs11Mechanism mechanism, nuint key, byte[] data)
    {
        using var native = new NativeMechanism(mechanism);
        Pkcs11Exception.ThrowUnlessOk("C_SignInit", _functions->SignInit(_handle, native.Pointer, key));
        fixed (byte* input = data)
        {
            nuint length;
            Pkcs11Exception.ThrowUnlessOk("C_Sign", _functions->Sign(_handle, input, (nuint)data.Length, null, &length));
            var signature = new byte[length];
            fixed (byte* output = signature)
                Pkcs11Exception.ThrowUnlessOk("C_Sign", _functions->Sign(_handle, input, (nuint)data.Length, output, &length));
            return signature[..(int)length];
        }
    }

    /// <summary>C_CloseSession (which logs the token out when it was the last session).</summary>
    public void Dispose()
    {
        if (_closed)
            return;
        _closed = true;
        Pkcs11Exception.ThrowUnlessOk("C_CloseSession", _functions->CloseSession(_handle));
    }

    // An attribute the object lacks or keeps secret leaves its length at CK_UNAVAILABLE_INFORMATION, not an error.
    private static void Readable(string method, nuint returnValue)
    {
        if ((CryptokiResult)returnValue is not (CryptokiResult.CKR_ATTRIBUTE_SENSITIVE or CryptokiResult.CKR_ATTRIBUTE_TYPE_INVALID))
            Pkcs11Exception.ThrowUnlessOk(method, returnValue);
    }

    /// <summary>A template's CK_ATTRIBUTE array and values in native memory, for one call.</summary>
    private sealed class NativeTemplate : IDisposable
    {
        public NativeTemplate(IReadOnlyList<Pkcs11Attribute> attributes)
        {
            Count = (nuint)attributes.Count;
            Items = (CkAttribute*)NativeMemory.AllocZeroed(Math.Max(Count, 1), (nuint)sizeof(CkAttribute));
            for (var i = 0; i < attributes.Count; i++)
            {
                var value = attributes[i].Value;
                Items[i].Type = attributes[i].Type;
                Items[i].Value = NativeMemory.Alloc((nuint)Math.Max(value.Length, 1));
                Items[i].ValueLength = (nuint)value.Length;
                value.CopyTo(new Span<byte>(Items[i].Value, value.Length));
            }
        }

        public CkAttribute* Items { get; }

        public nuint Count { get; }

        public void Dispose()
        {
            for (nuint i = 0; i < Count; i++)
                NativeMemory.Free(Items[i].Value);
            NativeMemory.Free(Items);
        }
    }

    /// <summary>A CK_MECHANISM and its parameter block in native memory, for one call.</summary>
    private sealed class NativeMechanism : IDisposable
    {
        public NativeMechanism(Pkcs11Mechanism mechanism)
        {
            Pointer = (CkMechanism*)NativeMemory.AllocZeroed((nuint)sizeof(CkMechanism));
            Pointer->Type = mechanism.Type;
            if (mechanism.Parameter is { } parameter)
            {
                Pointer->Parameter = NativeMemory.Alloc((nuint)Math.Max(parameter.Length, 1));
                Pointer->ParameterLength = (nuint)parameter.Length;
                parameter.CopyTo(new Span<byte>(Pointer->Parameter, parameter.Length));
            }
        }

        public CkMechanism* Pointer { get; }

        public void Dispose()
        {
            NativeMemory.Free(Pointer->Parameter);
            NativeMemory.Free(Pointer);
        }
    }
}
