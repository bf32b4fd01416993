namespace KeyRotator.Core.Jose;

public enum KeyFamily
{
    RsaPkcs1,
    RsaPss,
    Ec,
}
