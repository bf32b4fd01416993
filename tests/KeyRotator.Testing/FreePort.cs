using System.Net;
using System.Net.Sockets;

namespace KeyRotator.Testing;

public static class FreePort
{
    /// <summary>A loopback port that was free a moment ago; callers retry when a race takes it.</summary>
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
