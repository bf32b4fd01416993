namespace KeyRotator.Model.Jose;

public enum KeyFamily
{
    RsaPkcs1,
    RsaPss,
    Ec,
}
