using k8s.Autorest;
using k8s.Models;
using KeyRotator.Core.Lifecycle;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Model.Resources;
using KeyRotator.Operator.Runtime;
using Microsoft.Extensions.Logging;

namespace KeyRotator.Operator.Kubernetes;

/// <summary>Records core/v1 Events on a SigningKeySet, the way kubectl describe shows them.</summary>
public sealed partial class EventRecorder(IObjectClient client, TimeProvider time, ILogger<EventRecorder> logger)
{
    private readonly string _instance = Environment.GetEnvironmentVariable("POD_NAME") ?? Environment.MachineName;

    public async Task RecordAsync(V1Alpha1SigningKeySet set, PlanEvent planEvent, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var message = StatusMessage.Bound(planEvent.Message, StatusMessage.MaxEventLength);
        var ev = new Corev1Event
        {
            Metadata = new V1ObjectMeta { GenerateName = $"{set.Metadata.Name}.", NamespaceProperty = set.Metadata.NamespaceProperty },
            InvolvedObject = new V1ObjectReference
            {
                ApiVersion = V1Alpha1SigningKeySet.GroupVersion,
                Kind = V1Alpha1SigningKeySet.KindName,
                Name = set.Metadata.Name,
                NamespaceProperty = set.Metadata.NamespaceProperty,
                Uid = set.Metadata.Uid,
                ResourceVersion = set.Metadata.ResourceVersion,
            },
            Type = planEvent.Type,
            Reason = planEvent.Reason,
            Message = message,
            Source = new V1EventSource { Component = "keyrotator" },
            ReportingComponent = "keyrotator.io/operator",
            ReportingInstance = _instance,
            FirstTimestamp = now,
            LastTimestamp = now,
            Count = 1,
        };
        LogEvent(logger, set.Metadata.NamespaceProperty, set.Metadata.Name, planEvent.Type, planEvent.Reason, message);
        try
        {
            await client.CreateAsync(ev, cancellationToken);
        }
        catch (HttpOperationException e)
        {
            // An Event is best effort: never fail a reconcile over one.
            LogEventFailed(logger, set.Metadata.NamespaceProperty, set.Metadata.Name, planEvent.Reason, (int)e.Response.StatusCode);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Namespace}/{Name}: {Type} {Reason}: {Message}")]
    private static partial void LogEvent(ILogger logger, string @namespace, string name, string type, string reason, string message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Namespace}/{Name}: could not record Event {Reason}: API server answered {StatusCode}")]
    private static partial void LogEventFailed(ILogger logger, string @namespace, string name, string reason, int statusCode);
}
