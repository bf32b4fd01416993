namespace KeyRotator.Operator.Vault.Pkcs11;

/// <summary>
/// The PKCS#11 return values the key store tells apart, named as in the standard so that messages read
/// as a token's documentation does; any other value prints as its number.
/// </summary>
#pragma warning disable CA1707 // the standard's names, underscores included
internal enum CryptokiResult : ulong
{
    CKR_OK = 0x000,
    CKR_ATTRIBUTE_SENSITIVE = 0x011,
    CKR_ATTRIBUTE_TYPE_INVALID = 0x012,
    CKR_DEVICE_ERROR = 0x030,
    CKR_DEVICE_REMOVED = 0x032,
    CKR_MECHANISM_INVALID = 0x070,
    CKR_MECHANISM_PARAM_INVALID = 0x071,
    CKR_PIN_INCORRECT = 0x0A0,
    CKR_PIN_INVALID = 0x0A1,
    CKR_PIN_LEN_RANGE = 0x0A2,
    CKR_PIN_LOCKED = 0x0A4,
    CKR_SESSION_CLOSED = 0x0B0,
    CKR_SESSION_COUNT = 0x0B1,
    CKR_SESSION_HANDLE_INVALID = 0x0B3,
    CKR_TEMPLATE_INCONSISTENT = 0x0D1,
    CKR_TOKEN_NOT_PRESENT = 0x0E0,
    CKR_USER_ALREADY_LOGGED_IN = 0x100,
    CKR_USER_NOT_LOGGED_IN = 0x101,
    CKR_DOMAIN_PARAMS_INVALID = 0x130,
    CKR_BUFFER_TOO_SMALL = 0x150,
    CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191,
}
#pragma warning restore CA1707
