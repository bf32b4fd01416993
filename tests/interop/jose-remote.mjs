// A long-running Node.js verifier that reads the JWKS over HTTP with panva/jose's createRemoteJWKSet,
// configured as docs/consumers.md advises (cacheMaxAge no longer than the endpoint's max-age). Used by
// ForeignLibraryTests:
//   node tests/interop/jose-remote.mjs JWKS_URI ALG ISSUER AUDIENCE CACHE_MAX_AGE_MS
// Reads one compact JWS per line on stdin; writes one JSON line per token: { valid, kid?, error? }.
import { createInterface } from 'node:readline';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { hardened } from './hardened.mjs';

const [uri, alg, issuer, audience, cacheMaxAge] = process.argv.slice(2);
const keys = createRemoteJWKSet(new URL(uri), { cacheMaxAge: Number(cacheMaxAge), cooldownDuration: 0 });

for await (const token of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  let verdict;
  try {
    const { protectedHeader } = await jwtVerify(token, keys, hardened(alg, issuer, audience));
    verdict = { valid: true, kid: protectedHeader.kid };
  } catch (e) {
    verdict = { valid: false, error: `${e.code ?? e.name}: ${e.message}` };
  }
  process.stdout.write(`${JSON.stringify(verdict)}\n`);
}
