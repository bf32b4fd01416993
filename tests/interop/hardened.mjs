// The verifier configuration both jose scripts use, as docs/consumers.md gives it: one pinned algorithm,
// iss and aud checked, exp, nbf and iat required, tokens at most 15 minutes old.
export const hardened = (alg, issuer, audience) => ({
  algorithms: [alg],
  issuer,
  audience,
  requiredClaims: ['exp', 'nbf', 'iat'],
  maxTokenAge: '15m',
});
