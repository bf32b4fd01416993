namespace KeyRotator.Operator.Serving;

/// <summary>The answer to an accepted failure report: <c>{"accepted": n}</c>, the failures it counted.</summary>
internal sealed record ReportAccepted(long Accepted);
