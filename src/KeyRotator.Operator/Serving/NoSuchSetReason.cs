using Microsoft.AspNetCore.Authorization;

namespace KeyRotator.Operator.Serving;

/// <summary>The report names a set the operator does not hold: 404, decided before any review.</summary>
public sealed class NoSuchSetReason(IAuthorizationHandler handler, string message) : AuthorizationFailureReason(handler, message);
