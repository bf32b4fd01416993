namespace KeyRotator.Operator.Runtime;

/// <summary>The namespaced name a reconcile is for: the input is always this, never the event.</summary>
public readonly record struct SetKey(string Namespace, string Name)
{
    public override string ToString() => $"{Namespace}/{Name}";
}
