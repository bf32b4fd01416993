using KeyRotator.Model.Resources;

namespace KeyRotator.Core.Lifecycle;

/// <summary>
/// metav1.Condition bookkeeping: lastTransitionTime moves only when status flips, and the message is
/// bounded (<see cref="StatusMessage"/>) so that no condition makes a status write too large.
/// </summary>
public static class ConditionSet
{
    public const string Ready = "Ready";
    public const string Rotating = "Rotating";
    public const string Degraded = "Degraded";
    public const string SignatureFailureSpike = "SignatureFailureSpike";
    public const string PropagationIncomplete = "PropagationIncomplete";
    public const string RolledBack = "RolledBack";

    public static List<Condition> Set(IEnumerable<Condition>? existing, string type, bool status, string reason, string message, long generation, DateTimeOffset now)
    {
        var list = existing?.ToList() ?? [];
        var statusText = status ? "True" : "False";
        var index = list.FindIndex(c => c.Type == type);
        var previous = index >= 0 ? list[index] : null;
        var condition = new Condition
        {
            Type = type,
            Status = statusText,
            Reason = reason,
            Message = StatusMessage.Bound(message),
            ObservedGeneration = generation,
            LastTransitionTime = previous is not null && previous.Status == statusText ? previous.LastTransitionTime : now,
        };
        if (index >= 0)
            list[index] = condition;
        else
            list.Add(condition);
        return list;
    }

    public static Condition? Find(IEnumerable<Condition>? conditions, string type) => conditions?.FirstOrDefault(c => c.Type == type);

    public static bool IsTrue(IEnumerable<Condition>? conditions, string type) => Find(conditions, type)?.Status == "True";
}
