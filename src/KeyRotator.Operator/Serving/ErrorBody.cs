namespace KeyRotator.Operator.Serving;

/// <summary>A refusal's body: <c>{"error": "…"}</c> (<see cref="ErrorAnswer"/>).</summary>
internal sealed record ErrorBody(string Error);
