using Microsoft.AspNetCore.Authorization;

namespace KeyRotator.Operator.Serving;

/// <summary>The permission could not be checked now (the SubjectAccessReview failed or timed out): 503 with Retry-After.</summary>
public sealed class ReviewUnavailableReason(IAuthorizationHandler handler, string message) : AuthorizationFailureReason(handler, message);
