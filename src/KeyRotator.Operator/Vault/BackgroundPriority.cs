using System.Runtime.InteropServices;

namespace KeyRotator.Operator.Vault;

/// <summary>
/// Lowers the CPU priority (the Linux nice value) of the calling thread only. Key generation runs on
/// such threads: an RSA key is hundreds of CPU-milliseconds, a thousand of them saturate every core
/// for minutes, and the work that must not wait (lease renewals, watch events, the writes that publish
/// and activate keys, the report endpoint) then gets the CPU first; key generation takes whatever is
/// left, which is all of it when the operator is otherwise idle.
/// </summary>
internal static class BackgroundPriority
{
    /// <summary>The nice value key-generation threads run at (0 is normal, 19 the lowest).</summary>
    public const int Nice = 10;

    private const int PrioProcess = 0;

    /// <summary>True when the thread now runs at <see cref="Nice"/>; false where that is not possible (not Linux, no libc).</summary>
    public static bool LowerCurrentThread()
    {
        if (!OperatingSystem.IsLinux())
            return false;
        try
        {
            // On Linux a thread is a task of its own: PRIO_PROCESS with a thread id sets that thread's nice value.
            return SetPriority(PrioProcess, GetThreadId(), Nice) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    // DllImport, not LibraryImport: these two take and return ints only, and need no unsafe code to marshal.
    [DllImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    private static extern int SetPriority(int which, int who, int priority);

    [DllImport("libc", EntryPoint = "gettid")]
    private static extern int GetThreadId();
}
