namespace KeyRotator.Operator.Vault.Pkcs11;

/// <summary>A PKCS#11 call that returned other than CKR_OK: which call, and what it returned (never its arguments).</summary>
internal sealed class Pkcs11Exception(string method, CryptokiResult returnValue) : Exception($"{method} returned {returnValue}")
{
    public string Method { get; } = method;

    public CryptokiResult ReturnValue { get; } = returnValue;

    public static void ThrowUnlessOk(string method, nuint returnValue)
    {
        if (returnValue != 0)
            throw new Pkcs11Exception(method, (CryptokiResult)returnValue);
    }
}
