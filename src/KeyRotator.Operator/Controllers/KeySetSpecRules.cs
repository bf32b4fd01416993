using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Jose;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Publishing;
using KeyRotator.Operator.Vault;

namespace KeyRotator.Operator.Controllers;

/// <summary>
/// The spec rules that need the set's name or its history, beyond <see cref="SpecValidator"/>: names
/// that would make the set's own objects collide, and key parameters that cannot change once keys exist.
/// </summary>
public static class KeySetSpecRules
{
    public static IEnumerable<string> Problems(V1Alpha1SigningKeySet set)
    {
        var signing = SigningSecretPublisher.SecretName(set);
        var keyStore = KubernetesKeyStore.SecretName(set.Metadata.Name);
        if (signing == keyStore || signing.StartsWith(keyStore + "-retained-", StringComparison.Ordinal))
            yield return $"spec.signingSecretName \"{signing}\" is the name of the set's own key store; signers would be handed every stored key and the store overwritten. Choose another name, e.g. {set.Metadata.Name}-signing";
        foreach (var problem in PublishProblems(set.Spec))
            yield return problem;
    }

    /// <summary>
    /// spec.publish: one entry per target and path, and, with an issuer, a discovery document whose
    /// jwks_uri is where the layout puts the JWKS (relying parties follow jwks_uri from the document).
    /// </summary>
    private static IEnumerable<string> PublishProblems(SigningKeySetSpec spec)
    {
        var publish = spec.Publish ?? [];
        foreach (var duplicate in publish.GroupBy(p => (p.Target, Path: p.Path.Trim('/'))).Where(g => g.Count() > 1))
            yield return $"spec.publish names target {duplicate.Key.Target} path {duplicate.Key.Path} {duplicate.Count()} times; name each place once";
        if (spec.Jwks?.Issuer is not { Length: > 0 } issuer)
            yield break;
        var jwksUri = JwksPublisher.JwksUri(spec.Jwks);
        foreach (var entry in publish)
        {
            var suffix = entry.Layout == "KubernetesIssuer" ? "/openid/v1/jwks" : "/.well-known/jwks.json";
            if (!jwksUri.EndsWith(suffix, StringComparison.Ordinal))
                yield return $"spec.publish target {entry.Target} (layout {entry.Layout ?? "Jwks"}) puts the JWKS at {entry.Path.Trim('/')}{suffix}, but the discovery document's jwks_uri is {jwksUri}; set spec.jwks.jwksUri to the public URL of that blob, e.g. {issuer.TrimEnd('/')}{suffix}";
        }

        if (Uri.TryCreate(issuer, UriKind.Absolute, out var uri) && (uri.Host.EndsWith(".svc", StringComparison.OrdinalIgnoreCase) || uri.Host.Contains(".svc.", StringComparison.OrdinalIgnoreCase) || uri.Host.EndsWith(".cluster.local", StringComparison.OrdinalIgnoreCase)) && publish.Count > 0)
            yield return $"spec.jwks.issuer {issuer} is a cluster address, which relying parties outside the cluster cannot reach; publish under the public URL the target is served from";
    }

    /// <summary>What the set's keys are made with, as status records it.</summary>
    public static KeyParameters ParametersOf(SigningKeySetSpec spec)
    {
        var rsa = JwsAlgorithm.TryParse(spec.Algorithm, out var algorithm) && algorithm.IsRsa;
        var vault = (spec.Vault?.Provider ?? "Kubernetes") switch
        {
            "AzureKeyVault" when spec.Vault?.AzureKeyVault is { } azure => $"AzureKeyVault {azure.VaultUri.TrimEnd('/')}/keys/{azure.KeyName}",
            "Pkcs11" when spec.Vault?.Pkcs11 is { } pkcs11 => $"Pkcs11 token={pkcs11.TokenLabel}",
            var provider => provider,
        };
        return new KeyParameters { Algorithm = spec.Algorithm, RsaKeySize = rsa ? spec.RsaKeySize ?? 3072 : null, Vault = vault };
    }

    /// <summary>Changes to algorithm, key size or vault after the set's keys were made: refused, never followed.</summary>
    public static IEnumerable<string> ParameterChanges(V1Alpha1SigningKeySet set)
    {
        if (set.Status?.KeyParameters is not { } pinned)
            yield break;
        var wanted = ParametersOf(set.Spec);
        const string Fix = "keys cannot change once made; revert the change, or create a new SigningKeySet and move signers and verifiers to it";
        if (pinned.Algorithm != wanted.Algorithm)
            yield return $"spec.algorithm was {pinned.Algorithm} when the set's keys were made and is now {wanted.Algorithm}: {Fix}";
        if (pinned.RsaKeySize != wanted.RsaKeySize && pinned.Algorithm == wanted.Algorithm)
            yield return $"spec.rsaKeySize was {pinned.RsaKeySize} when the set's keys were made and is now {wanted.RsaKeySize}: {Fix}";
        if (pinned.Vault != wanted.Vault)
            yield return $"spec.vault was \"{pinned.Vault}\" when the set's keys were made and is now \"{wanted.Vault}\": {Fix}";
    }

    /// <summary>
    /// Enough of a context to find and remove the set's keys when it is deleted, even when the rest of
    /// the spec is invalid; null when spec.vault itself does not say where the keys are.
    /// </summary>
    public static KeySetContext? RemovalContext(V1Alpha1SigningKeySet set, RotationPolicyOptions options)
    {
        var provider = set.Spec.Vault?.Provider ?? "Kubernetes";
        if ((provider == "AzureKeyVault" && set.Spec.Vault?.AzureKeyVault is null) || (provider == "Pkcs11" && set.Spec.Vault?.Pkcs11 is null)
            || !SpecValidator.KnownProviders.Contains(provider))
            return null;
        var policy = SpecValidator.Validate(set.Spec, options).Policy ?? new RotationPolicy
        {
            Algorithm = JwsAlgorithm.TryParse(set.Spec.Algorithm, out var algorithm) ? algorithm : JwsAlgorithm.Parse("ES256"),
            PrePublish = TimeSpan.Zero,
            Overlap = TimeSpan.Zero,
            MaxTokenLifetime = TimeSpan.Zero,
            ClockSkew = TimeSpan.Zero,
            DeleteKeysOnRemoval = set.Spec.DeletionPolicy == "Delete",
        };
        return new KeySetContext(set.Metadata.NamespaceProperty, set.Metadata.Name, set.Metadata.Uid, policy, set.Spec);
    }
}
