using System.Text.Json;

namespace KeyRotator.Operator.ServiceAccountSigner;

/// <summary>
/// The signer's last reading on disk (--state-file), written atomically (a temporary file beside it,
/// flushed to disk, renamed over it), readable by the signer's user alone. A reading with key material
/// for a vault provider is refused: the private key of a vault key never leaves the vault.
/// </summary>
public static class StateFile
{
    public static void Write(string path, IssuerState state)
    {
        if (state.Provider != "Kubernetes" && state.PrivateKeyPem is not null)
            throw new InvalidOperationException($"refusing to write a private key for the {state.Provider} provider into {path}");
        var bytes = JsonSerializer.SerializeToUtf8Bytes(state, IssuerStateJson.StateInfo);
        var directory = Path.GetDirectoryName(path)!;
        var temporary = Path.Combine(directory, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        try
        {
            using (var file = new FileStream(temporary, options))
            {
                file.Write(bytes);
                file.Flush(flushToDisk: true);
            }

            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>The state for <paramref name="ns"/>/<paramref name="name"/>, or null when there is none (or it is of another set, or unreadable).</summary>
    public static IssuerState? Read(string path, string ns, string name)
    {
        try
        {
            var state = JsonSerializer.Deserialize(File.ReadAllBytes(path), IssuerStateJson.StateInfo);
            return state is { Version: IssuerState.CurrentVersion } && state.Namespace == ns && state.Name == name
                && (state.Provider == "Kubernetes" || state.PrivateKeyPem is null)
                ? state
                : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }
}
