namespace KeyRotator.Client.Tests;

/// <summary>The file layout the kubelet gives a ConfigMap volume: jwks.json -> ..data/jwks.json, ..data -> ..2026_11_28_…</summary>
public sealed class JwksFileSourceTests : IDisposable
{
    private readonly string _volume = Directory.CreateTempSubdirectory("configmap-volume-").FullName;
    private int _version;

    public JwksFileSourceTests()
    {
        Publish(new TokenFactory().Jwks());
        File.CreateSymbolicLink(Path.Combine(_volume, "jwks.json"), Path.Combine("..data", "jwks.json"));
    }

    private string JwksPath => Path.Combine(_volume, "jwks.json");

    /// <summary>What the kubelet does on an update: write a new timestamped directory, then swap "..data" atomically.</summary>
    private void Publish(string json)
    {
        var version = $"..2026_11_28_{++_version:00}";
        Directory.CreateDirectory(Path.Combine(_volume, version));
        File.WriteAllText(Path.Combine(_volume, version, "jwks.json"), json);
        var temp = Path.Combine(_volume, "..data_tmp");
        File.CreateSymbolicLink(temp, version);
        // rename(2) over the old link, as the kubelet's atomic writer does (File.Move refuses a link to a directory).
        using var mv = System.Diagnostics.Process.Start("mv", ["-T", "-f", temp, Path.Combine(_volume, "..data")])!;
        mv.WaitForExit();
        Assert.Equal(0, mv.ExitCode);
    }

    [Fact]
    public async Task Reloads_when_the_data_symlink_is_swapped()
    {
        using var source = new JwksFileSource(JwksPath);
        var first = Assert.Single(source.Current.Keys).Key;
        var next = new TokenFactory();
        var changed = new TaskCompletionSource<JwksSnapshot>(TaskCreationOptions.RunContinuationsAsynchronously);
        source.Changed += s => changed.TrySetResult(s);

        Publish(next.Jwks());

        var snapshot = await changed.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Contains(next.Key.Kid, snapshot.Keys.Keys);
        Assert.DoesNotContain(first, snapshot.Keys.Keys);
        Assert.Equal(["ES256"], snapshot.Algorithms);
    }

    [Theory]
    [InlineData("{ this is not json")]
    [InlineData("")]
    [InlineData("{}")]
    [InlineData("{\"keys\":{}}")]
    [InlineData("{\"keys\":[{\"kty\":\"oct\",\"kid\":\"x\",\"alg\":\"HS256\",\"k\":\"c2VjcmV0\"}]}")]
    public void A_bad_file_or_one_without_a_usable_key_keeps_the_last_good_key_set(string content)
    {
        using var source = new JwksFileSource(JwksPath);
        var good = source.Current;

        Publish(content);
        source.Reload();

        Assert.Same(good, source.Current);
        Assert.True(source.ReloadFailures >= 1);
    }

    [Fact]
    public async Task A_key_set_published_empty_after_every_key_was_revoked_is_honoured_and_rejects_every_token()
    {
        var tokens = new TokenFactory();
        Publish(tokens.Jwks());
        using var source = new JwksFileSource(JwksPath);
        var options = new KeyRotatorValidationOptions { JwksPath = JwksPath, MaxTokenLifetime = TimeSpan.FromMinutes(15) };
        options.ValidIssuers.Add(TokenFactory.Issuer);
        options.ValidAudiences.Add(TokenFactory.Audience);
        var validator = new KeyRotatorTokenValidator(source, options, new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(TokenFactory.Now).AddSeconds(10)));
        var token = tokens.Token();
        var before = await validator.ValidateAsync(token);
        Assert.True(before.IsValid, before.Message);

        Publish("{\"keys\":[]}");
        source.Reload(); // the directory watcher may have reloaded already

        Assert.Empty(source.Current.Keys);
        var rejected = await validator.ValidateAsync(token);
        Assert.False(rejected.IsValid);
        Assert.Equal(FailureReason.UnknownKid, rejected.Reason);
    }

    [Fact]
    public void Symmetric_and_encryption_keys_are_never_trusted()
    {
        var signing = new TokenFactory();
        var json = signing.Jwks().Replace("{\"keys\":[", "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"hmac\",\"alg\":\"HS256\",\"k\":\"c2VjcmV0\"},", StringComparison.Ordinal);

        var snapshot = JwksSnapshot.Parse(json);

        Assert.Equal([signing.Key.Kid], snapshot.Keys.Keys);
    }

    public void Dispose() => Directory.Delete(_volume, recursive: true);
}
