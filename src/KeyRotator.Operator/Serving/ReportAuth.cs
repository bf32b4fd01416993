namespace KeyRotator.Operator.Serving;

/// <summary>The names that tie the report endpoint to its authentication scheme, authorization policy and rate limit.</summary>
public static class ReportAuth
{
    public const string Path = "/v1/namespaces/{ns}/signingkeysets/{name}/signaturefailures";
    public const string Scheme = "KeyRotatorServiceAccount";
    public const string Policy = "MayReportForSet";
    public const string RateLimit = "ReportsPerCaller";
}
