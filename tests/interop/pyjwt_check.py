"""What a Python service using PyJWT (Debian's python3-jwt) makes of KeyRotator's output.

PyJWT shares no code with KeyRotator or Microsoft.IdentityModel, so a disagreement here is a real
interoperability bug. Used by ForeignLibraryTests, with Debian's interpreter (where python3-jwt is):
  /usr/bin/python3 tests/interop/pyjwt_check.py cases.json results.json
The input and output are those of jose-check.mjs, without thumbprints (PyJWT has no RFC 7638).
"""
import json
import sys
import time

import jwt


def decode(token, key, alg, issuer, audience):
    """The verifier configuration both PyJWT scripts use, as docs/consumers.md gives it: one pinned algorithm, iss/aud/exp/nbf/iat required."""
    return jwt.decode(token, key, algorithms=[alg], audience=audience, issuer=issuer,
                      options={"require": ["exp", "nbf", "iat", "iss", "aud"]})


def verdict(token, keys, case, inp):
    """A hardened verifier with the JWKS as the only key source."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        if kid not in keys:
            return {"valid": False, "error": f"no key with kid {kid!r} in the JWKS"}
        decode(token, keys[kid].key, case["alg"], inp["issuer"], inp["audience"])
        return {"valid": True, "kid": kid}
    except jwt.PyJWTError as e:
        return {"valid": False, "error": f"{type(e).__name__}: {e}"}


def main(path, output):
    with open(path, encoding="utf-8") as f:
        inp = json.load(f)
    results = []
    for case in inp["cases"]:
        keys = {key.key_id: key for key in jwt.PyJWKSet.from_json(case["jwks"]).keys}
        result = {"name": case["name"], "verdicts": [verdict(t, keys, case, inp) for t in case["tokens"]]}
        if case.get("pem"):
            # A signer: the signing Secret's PKCS#8 PEM and kid, as a Python service would use them.
            now = int(time.time())
            claims = {"sub": "signed-by-pyjwt", "iss": inp["issuer"], "aud": inp["audience"], "iat": now, "nbf": now, "exp": now + 300}
            result["signed"] = jwt.encode(claims, case["pem"], algorithm=case["alg"], headers={"kid": case["kid"]})
        results.append(result)
    with open(output, "w", encoding="utf-8") as f:
        json.dump({"library": f"PyJWT {jwt.__version__}", "results": results}, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
