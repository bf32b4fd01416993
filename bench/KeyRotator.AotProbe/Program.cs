using System.Diagnostics;
using System.Text;
using KeyRotator.AotProbe;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Vault;

// The operator's Pkcs11KeyStore, unchanged, against a fresh SoftHSM2 token: every PKCS#11 call it makes
// (load and initialize the module, slots and token info, open session, login, logout, generate key pairs,
// find objects, get and set attributes, sign with ECDSA, RSA PKCS#1 and RSA-PSS parameters, destroy).
// Exit code 0 when every check held. Run: docs/benchmarks.md, "Native AOT: where each dependency stands".
var started = Stopwatch.StartNew();
var failures = 0;
void Check(bool condition, string what)
{
    Console.WriteLine($"{(condition ? "ok  " : "FAIL")} {what}");
    failures += condition ? 0 : 1;
}

Console.WriteLine($"JIT present: {System.Runtime.CompilerServices.RuntimeFeature.IsDynamicCodeCompiled} (false in the Native AOT binary)");
var root = SoftHsmToken.Create();
Console.WriteLine($"fresh SoftHSM2 token in {root}");
var ct = CancellationToken.None;
using var store = new Pkcs11KeyStore(new PinSecretClient("hsm-pin", "pin", SoftHsmToken.UserPin), TimeProvider.System);
var input = Encoding.ASCII.GetBytes("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0");

foreach (var algorithm in new[] { "ES256", "RS256", "PS256", "ES384" })
{
    var set = Context(algorithm, "tenant-a", "hsm-pin");
    var clock = Stopwatch.StartNew();
    var created = await store.CreateAsync(set, 1, ct);
    var generated = clock.Elapsed;
    var again = await store.CreateAsync(set, 1, ct);
    var listed = await store.ListAsync(set, ct);
    Check(created.PublicJwk.Alg == algorithm && again.Kid == created.Kid && listed.Count == 1 && listed[0].Kid == created.Kid,
        $"{algorithm}: key pair generated on the token in {generated.TotalMilliseconds:0} ms, found again by label and adopted (kid {created.Kid})");
    Check(created.PublicJwk.ComputeThumbprint() == created.Kid, $"{algorithm}: public key read back (CKA_MODULUS/EXPONENT or CKA_EC_POINT) makes a JWK with its thumbprint as kid");

    var signature = await store.SignAsync(set, created.Kid, input, ct);
    Check(Verifier.Verify(created.PublicJwk, input, signature), $"{algorithm}: C_Sign's {signature.Length}-byte signature verifies with .NET's {(algorithm.StartsWith("ES", StringComparison.Ordinal) ? "ECDsa" : "RSA")}");
    var tampered = (byte[])input.Clone();
    tampered[^1] ^= 1;
    Check(!Verifier.Verify(created.PublicJwk, tampered, signature), $"{algorithm}: and does not verify over other input");

    await store.DisableAsync(set, created.Kid, ct);
    Check(!(await store.ListAsync(set, ct))[0].Enabled, $"{algorithm}: C_SetAttributeValue CKA_SIGN=false read back as disabled");
    var refused = await Refusal(() => store.SignAsync(set, created.Kid, input, ct));
    Check(refused?.Reason == Reasons.KeyMissing, $"{algorithm}: a disabled key does not sign ({refused?.Message})");

    await store.RemoveSetAsync(set, deleteKeys: true, ct);
    Check((await store.ListAsync(set, ct)).Count == 0, $"{algorithm}: C_DestroyObject removed both halves");
}

using var wrongPin = new Pkcs11KeyStore(new PinSecretClient("hsm-pin", "pin", "9999"), TimeProvider.System);
var denied = await Refusal(() => wrongPin.ListAsync(Context("ES256", "tenant-b", "hsm-pin"), ct));
Check(denied?.Reason == "VaultAccessDenied" && denied.Message.Contains("refused the PIN", StringComparison.Ordinal) && !denied.Message.Contains("9999", StringComparison.Ordinal),
    $"a wrong PIN: CKR_PIN_INCORRECT mapped to VaultAccessDenied ({denied?.Message})");
var recovered = await store.CreateAsync(Context("ES256", "tenant-a", "hsm-pin"), 7, ct);
Check(recovered.Generation == 7, "the right PIN logs in again after it");
var missing = await Refusal(() => store.ListAsync(Context("ES256", "tenant-a", "hsm-pin", token: "no-such-token"), ct));
Check(missing?.Message.Contains("no token labelled", StringComparison.Ordinal) == true, $"a missing token: {missing?.Message}");
var notAModule = Path.Combine(root, "softhsm2.conf");
var notLoaded = await Refusal(() => store.ListAsync(Context("ES256", "tenant-a", "hsm-pin", library: notAModule), ct));
Check(notLoaded?.Reason == "VaultUnavailable", $"a file that is not a module: {notLoaded?.Message}");

Console.WriteLine($"{(failures == 0 ? "PASS" : $"{failures} FAILED")} in {started.Elapsed.TotalSeconds:0.00} s; peak working set {Process.GetCurrentProcess().PeakWorkingSet64 / 1024 / 1024} MB");
Directory.Delete(root, recursive: true);
return failures == 0 ? 0 : 1;

static KeySetContext Context(string algorithm, string ns, string pinSecret, string token = SoftHsmToken.Label, string library = SoftHsmToken.Library)
{
    var spec = new SigningKeySetSpec
    {
        Algorithm = algorithm,
        RsaKeySize = algorithm.StartsWith("ES", StringComparison.Ordinal) ? null : 2048,
        Rotation = new RotationSpec { Interval = "720h" },
        Vault = new VaultSpec { Provider = "Pkcs11", Pkcs11 = new Pkcs11Spec { Library = library, TokenLabel = token, PinSecretRef = new SecretKeySelector { Name = pinSecret, Key = "pin" } } },
    };
    var policy = SpecValidator.Validate(spec, new RotationPolicyOptions()).Policy
        ?? throw new InvalidOperationException($"the probe's {algorithm} spec does not validate");
    return new KeySetContext(ns, "auth", Guid.NewGuid().ToString(), policy, spec);
}

static async Task<KeyStoreException?> Refusal(Func<Task> call)
{
    try
    {
        await call();
        return null;
    }
    catch (KeyStoreException e)
    {
        return e;
    }
}
