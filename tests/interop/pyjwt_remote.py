"""A long-running Python verifier that reads the JWKS over HTTP with PyJWT's PyJWKClient, configured
as docs/consumers.md advises (lifespan no longer than the endpoint's max-age). Used by ForeignLibraryTests:
  /usr/bin/python3 tests/interop/pyjwt_remote.py JWKS_URI ALG ISSUER AUDIENCE LIFESPAN_SECONDS
Reads one compact JWS per line on stdin; writes one JSON line per token: {valid, kid?, error?}.
"""
import json
import sys

import jwt

from pyjwt_check import decode


def main(uri, alg, issuer, audience, lifespan):
    keys = jwt.PyJWKClient(uri, lifespan=float(lifespan))
    for line in sys.stdin:
        token = line.strip()
        try:
            key = keys.get_signing_key_from_jwt(token)
            decode(token, key.key, alg, issuer, audience)
            verdict = {"valid": True, "kid": key.key_id}
        except jwt.PyJWTError as e:
            verdict = {"valid": False, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(verdict), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:6])
