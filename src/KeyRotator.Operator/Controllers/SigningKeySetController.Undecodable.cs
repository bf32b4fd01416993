using k8s.Models;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Informers;
using Microsoft.Extensions.Logging;

namespace KeyRotator.Operator.Controllers;

/// <summary>SigningKeySets the informer cannot decode: skipped, logged, and reported once per version.</summary>
public sealed partial class SigningKeySetController
{
    /// <summary>
    /// A SigningKeySet that does not decode is skipped (it cannot block the others) and said so: a log line
    /// on every replica, and, from the leader, one Warning Event per version of the object.
    /// </summary>
    private void OnUndecodable(UndecodableObject item, ILogger informerLogger)
    {
        LogUndecodable(informerLogger, $"{item.Namespace}/{item.Name}", item.Error);
        var key = $"{item.Namespace}/{item.Name}";
        _undecodable.AddOrUpdate(key, (item, null), (_, known) => (item, known.Reported));
        if (WorkersRunning)
            ReportUndecodable(item);
    }

    private void ReportUndecodable(UndecodableObject item)
    {
        var key = $"{item.Namespace}/{item.Name}";
        if (item.Uid is null || item.Namespace.Length == 0 || !_undecodable.TryGetValue(key, out var known) || known.Reported == (item.ResourceVersion ?? ""))
            return;
        _undecodable[key] = (item, item.ResourceVersion ?? "");
        var set = new V1Alpha1SigningKeySet
        {
            Metadata = new V1ObjectMeta { Name = item.Name, NamespaceProperty = item.Namespace, Uid = item.Uid, ResourceVersion = item.ResourceVersion },
        };
        var message = $"The operator cannot read this SigningKeySet ({item.Error}); it is skipped, and its keys are neither rotated nor revoked, until the object matches the CRD again (kubectl get signingkeyset {item.Name} -n {item.Namespace} -o yaml)";
        _ = _reporter.WarnAsync(set, "Undecodable", message, CancellationToken.None);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "SigningKeySet {Set} cannot be decoded and is skipped until it is fixed: {Error}")]
    private static partial void LogUndecodable(ILogger logger, string set, string error);
}
