using Microsoft.AspNetCore.Authorization;

namespace KeyRotator.Operator.Serving;

/// <summary>The caller may "create signingkeysets/signaturefailures" on the set named in the route.</summary>
public sealed class MayReportRequirement : IAuthorizationRequirement;
