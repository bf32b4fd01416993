// What a Node.js service using panva/jose (https://github.com/panva/jose) makes of KeyRotator's output.
// jose shares no code with KeyRotator or Microsoft.IdentityModel, so a disagreement here is a real
// interoperability bug. Used by ForeignLibraryTests:
//   node tests/interop/jose-check.mjs cases.json results.json
// cases.json: { issuer, audience, cases: [{ name, alg, jwks (the ConfigMap's jwks.json as text),
//   tokens: [compact JWS...], kid?, pem? (the signing Secret's) }] }
// Writes results.json, one JSON object: { library, results: [{ name, thumbprints: [{ kid, thumbprint }],
//   verdicts: [{ valid, kid? , error? }] (one per token, in order), signed? (a token jose signed with pem) }] }
import { readFile, writeFile } from 'node:fs/promises';
import { calculateJwkThumbprint, createLocalJWKSet, importPKCS8, jwtVerify, SignJWT } from 'jose';
import { hardened } from './hardened.mjs';

const input = JSON.parse(await readFile(process.argv[2], 'utf8'));
const { version } = JSON.parse(await readFile(new URL('./node_modules/jose/package.json', import.meta.url), 'utf8'));

const results = [];
for (const c of input.cases) {
  const jwks = JSON.parse(c.jwks);
  const keys = createLocalJWKSet(jwks);
  const result = { name: c.name, verdicts: [] };
  result.thumbprints = await Promise.all(jwks.keys.map(async (jwk) => ({ kid: jwk.kid, thumbprint: await calculateJwkThumbprint(jwk, 'sha256') })));

  // A hardened verifier: one pinned algorithm, the JWKS as the only key source, iss/aud/exp/nbf/iat required.
  for (const token of c.tokens) {
    try {
      const { protectedHeader } = await jwtVerify(token, keys, hardened(c.alg, input.issuer, input.audience));
      result.verdicts.push({ valid: true, kid: protectedHeader.kid });
    } catch (e) {
      result.verdicts.push({ valid: false, error: `${e.code ?? e.name}: ${e.message}` });
    }
  }

  // A signer: the signing Secret's PKCS#8 PEM and kid, as a Node.js service would use them.
  if (c.pem) {
    const key = await importPKCS8(c.pem, c.alg);
    result.signed = await new SignJWT({ sub: 'signed-by-jose' })
      .setProtectedHeader({ alg: c.alg, kid: c.kid, typ: 'JWT' })
      .setIssuer(input.issuer)
      .setAudience(input.audience)
      .setIssuedAt()
      .setNotBefore('0s')
      .setExpirationTime('5m')
      .sign(key);
  }

  results.push(result);
}

await writeFile(process.argv[3], JSON.stringify({ library: `jose ${version}`, results }));
