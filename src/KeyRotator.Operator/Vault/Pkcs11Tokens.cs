using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using KeyRotator.Operator.Vault.Pkcs11;

namespace KeyRotator.Operator.Vault;

/// <summary>
/// The PKCS#11 modules and token sessions of this process. Static on purpose, and the one static state
/// of the operator: PKCS#11 makes both per process, not per object. A module is initialized once per
/// process (C_Initialize; a second one fails with CKR_CRYPTOKI_ALREADY_INITIALIZED), and a login
/// belongs to the process and the token, shared by every session on it, so two pools for one token
/// would log each other out. Every <see cref="Pkcs11KeyStore"/> in the process (one in the operator,
/// several in tests) shares them.
/// </summary>
internal static class Pkcs11Tokens
{
    private static readonly ConcurrentDictionary<string, Pkcs11Module> Libraries = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<(string Library, string Token), TokenSessionPool> Pools = new();
    private static int _sessionsOpened;
    private static int _loginAttempts;

    /// <summary>Sessions opened by this process so far (what the pool saves).</summary>
    public static int SessionsOpened => Volatile.Read(ref _sessionsOpened);

    /// <summary>C_Login calls made by this process so far (a refused PIN is not tried twice).</summary>
    public static int LoginAttempts => Volatile.Read(ref _loginAttempts);

    /// <summary>The session pool of one token.</summary>
    public static TokenSessionPool PoolFor(string library, string tokenLabel) => Pools.GetOrAdd((library, tokenLabel), _ => new TokenSessionPool());

    /// <summary>The PKCS#11 module at <paramref name="path"/>, loaded and initialized once per process.</summary>
    public static Pkcs11Module Load(string path)
    {
        if (!File.Exists(path))
            throw new KeyStoreException($"the PKCS#11 library {path} does not exist in the operator's container (see the chart's pkcs11 values)") { Reason = "VaultUnavailable" };
        try
        {
            return Libraries.GetOrAdd(path, Pkcs11Module.Load);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            throw new KeyStoreException($"{path} could not be loaded as a PKCS#11 module (no loadable C_GetFunctionList)") { Reason = "VaultUnavailable" };
        }
    }

    /// <summary>
    /// Open, logged-in read/write sessions on one token, reused across calls instead of opening a session
    /// and logging in for every operation. The login is tied to the PIN that made it: a different PIN
    /// (the Secret changed, or another set names another Secret) waits for running work, closes every
    /// session (which logs the token out) and logs in afresh, so no set ever rides on another's login.
    /// A token is shared by every namespace granted it, and a real HSM locks its user PIN for all of them
    /// after a few wrong ones, so: every PIN the token refused (up to <see cref="RememberedRefusals"/>) is
    /// never presented again, whichever set brings it back, until a Secret holds another; and a namespace
    /// whose PINs were refused <see cref="RefusalsPerNamespace"/> times within <see cref="RefusalWindow"/>
    /// has no further new PIN presented until the window passes. One team can so cost the token at most that
    /// many wrong attempts, and the other sets at most that many re-logins, per window.
    /// </summary>
    internal sealed class TokenSessionPool
    {
        public const int RememberedRefusals = 256;
        public const int RefusalsPerNamespace = 3;
        public static readonly TimeSpan RefusalWindow = TimeSpan.FromMinutes(10);

        private static readonly HashSet<CryptokiResult> LostSession =
        [
            CryptokiResult.CKR_SESSION_HANDLE_INVALID, CryptokiResult.CKR_SESSION_CLOSED, CryptokiResult.CKR_USER_NOT_LOGGED_IN,
            CryptokiResult.CKR_DEVICE_REMOVED, CryptokiResult.CKR_TOKEN_NOT_PRESENT, CryptokiResult.CKR_DEVICE_ERROR, CryptokiResult.CKR_SESSION_COUNT,
        ];

        private readonly object _gate = new();
        private readonly Stack<Pkcs11Session> _idle = new();
        private byte[]? _loggedInWith;
        private readonly Dictionary<string, DateTimeOffset> _refused = new(StringComparer.Ordinal);
        private readonly Dictionary<string, List<DateTimeOffset>> _refusedByNamespace = new(StringComparer.Ordinal);
        private int _inUse;

        public int Idle
        {
            get
            {
                lock (_gate)
                    return _idle.Count;
            }
        }

        /// <summary>A logged-in session for a set in <paramref name="ns"/>, or null when no token with that label is present.</summary>
        public Pkcs11Session? Acquire(Pkcs11Module library, string tokenLabel, string pin, string ns, DateTimeOffset now)
        {
            var hash = SHA256.HashData(Encoding.UTF8.GetBytes(pin));
            var key = Convert.ToHexString(hash);
            lock (_gate)
            {
                if (_refused.ContainsKey(key))
                    throw new Pkcs11Exception("C_Login", CryptokiResult.CKR_PIN_INCORRECT);
                if (_loggedInWith is null || !CryptographicOperations.FixedTimeEquals(_loggedInWith, hash))
                {
                    if (RecentRefusals(ns, now) >= RefusalsPerNamespace)
                        throw new PinBudgetExhaustedException(ns);
                    while (_inUse > 0)
                        Monitor.Wait(_gate, TimeSpan.FromMilliseconds(100));
                    CloseAllLocked();
                }

                var session = _idle.Count > 0 ? _idle.Pop() : Open(library, tokenLabel);
                if (session is null)
                    return null;
                if (_loggedInWith is null)
                {
                    try
                    {
                        try
                        {
                            Interlocked.Increment(ref _loginAttempts);
                            session.Login(pin);
                        }
                        catch (Pkcs11Exception e) when (e.ReturnValue == CryptokiResult.CKR_USER_ALREADY_LOGGED_IN)
                        {
                            // A session that left the pool still holds a login made with an unknown PIN: this PIN must prove itself.
                            session.Logout();
                            session.Login(pin);
                        }
                    }
                    catch (Pkcs11Exception e)
                    {
                        session.Dispose();
                        if (e.ReturnValue is CryptokiResult.CKR_PIN_INCORRECT or CryptokiResult.CKR_PIN_INVALID or CryptokiResult.CKR_PIN_LEN_RANGE)
                            Refused(key, ns, now);
                        throw;
                    }

                    _loggedInWith = hash;
                }

                _inUse++;
                return session;
            }
        }

        public T Use<T>(Pkcs11Session session, Func<Pkcs11Session, T> work)
        {
            var keep = true;
            try
            {
                return work(session);
            }
            catch (Pkcs11Exception e) when (LostSession.Contains(e.ReturnValue))
            {
                keep = false;
                throw;
            }
            finally
            {
                lock (_gate)
                {
                    _inUse--;
                    if (keep)
                    {
                        _idle.Push(session);
                    }
                    else
                    {
                        // The token went away or logged out: start over with fresh sessions.
                        session.Dispose();
                        CloseAllLocked();
                    }

                    Monitor.PulseAll(_gate);
                }
            }
        }

        private int RecentRefusals(string ns, DateTimeOffset now)
        {
            if (!_refusedByNamespace.TryGetValue(ns, out var times))
                return 0;
            times.RemoveAll(t => t <= now - RefusalWindow);
            if (times.Count == 0)
                _refusedByNamespace.Remove(ns);
            return times.Count;
        }

        private void Refused(string key, string ns, DateTimeOffset now)
        {
            if (_refused.Count >= RememberedRefusals)
                _refused.Remove(_refused.MinBy(r => r.Value).Key);
            _refused[key] = now;
            if (!_refusedByNamespace.TryGetValue(ns, out var times))
                _refusedByNamespace[ns] = times = [];
            times.Add(now);
        }

        private static Pkcs11Session? Open(Pkcs11Module library, string tokenLabel)
        {
            foreach (var slot in library.SlotsWithToken())
            {
                if (library.TokenLabel(slot).Trim(' ', '\0') != tokenLabel)
                    continue;
                Interlocked.Increment(ref _sessionsOpened);
                return library.OpenSession(slot);
            }

            return null;
        }

        private void CloseAllLocked()
        {
            while (_idle.Count > 0)
            {
                var session = _idle.Pop();
                try
                {
                    session.Dispose();
                }
                catch (Pkcs11Exception)
                {
                    // Already gone with its token.
                }
            }

            _loggedInWith = null;
        }
    }
}

/// <summary>A namespace's PINs were refused too often lately: no new PIN of it is presented to the token for now.</summary>
internal sealed class PinBudgetExhaustedException(string ns)
    : Exception($"PINs from namespace {ns} were refused {Pkcs11Tokens.TokenSessionPool.RefusalsPerNamespace} times within {Pkcs11Tokens.TokenSessionPool.RefusalWindow.TotalMinutes:0} minutes")
{
    public string Namespace { get; } = ns;
}
