#!/usr/bin/env python3
"""The bare-client baseline of hack/scale.sh: the writes the operator makes to converge N sets (6 per
set since issue #34, in the operator's order: the finalizer, the key-store Secret, the JWKS ConfigMap
(written once, with the pending key), the status with the key pending, the signing Secret (created
with the key that signs) and the status with the key active; no Event), sent with nothing else over C
keep-alive connections, one thread each. It prints the seconds they took. docs/benchmarks.md
("Writes per set") says why each write is there.

usage: bare-client.py KUBECONFIG NAMESPACE N CONCURRENCY
The SigningKeySets bare-0000.. must exist in NAMESPACE (no operator watches it)."""
import http.client, json, re, ssl, sys, threading, time, base64, os

kubeconfig, ns, n, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
text = open(kubeconfig).read()
server = re.search(r'server: "?(https://[^"\s]+)"?', text).group(1)
token = re.search(r'token: "?([^"\s]+)"?', text).group(1)
host, port = server[len("https://"):].rsplit(":", 1)
ctx = ssl._create_unverified_context()
errors = []

def worker(indexes):
    conn = http.client.HTTPSConnection(host, int(port), context=ctx)
    def call(method, path, body):
        conn.request(method, path, json.dumps(body), {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:200]!r}")
        return json.loads(data)
    sets = f"/apis/keyrotator.io/v1alpha1/namespaces/{ns}/signingkeysets"
    core = f"/api/v1/namespaces/{ns}"
    key = base64.b64encode(os.urandom(1200)).decode()
    try:
        for i in indexes:
            name = f"bare-{i:04d}"
            s = json.loads(json.dumps(SETS[name]))
            s["metadata"]["finalizers"] = ["keyrotator.io/cleanup"]
            s = call("PUT", f"{sets}/{name}", s)                                                     # 1 finalizer
            call("POST", f"{core}/secrets", {"metadata": {"name": f"{name}-keyrotator-keys"}, "data": {"gen-1.json": key}})  # 2 key store
            call("POST", f"{core}/configmaps", {"metadata": {"name": f"{name}-jwks"}, "data": {"jwks.json": "{\"keys\":[1]}"}})  # 3 JWKS
            s["status"] = {"observedGeneration": 1, "nextKeyId": "a"}
            s = call("PUT", f"{sets}/{name}/status", s)                                              # 4 pending
            call("POST", f"{core}/secrets", {"metadata": {"name": f"{name}-signing"}, "data": {"kid": "YQ==", "private-key.pem": key}})  # 5 signing
            s["status"] = {"observedGeneration": 1, "activeKeyId": "a"}
            call("PUT", f"{sets}/{name}/status", s)                                                  # 6 active
    except Exception as e:  # noqa: BLE001 - reported below
        errors.append(str(e))

# The sets as they are now (listed once, outside the timing).
listing = http.client.HTTPSConnection(host, int(port), context=ctx)
listing.request("GET", f"/apis/keyrotator.io/v1alpha1/namespaces/{ns}/signingkeysets", headers={"Authorization": "Bearer " + token})
SETS = {item["metadata"]["name"]: item for item in json.loads(listing.getresponse().read())["items"]}
threads = [threading.Thread(target=worker, args=(range(t, n, concurrency),)) for t in range(concurrency)]
start = time.monotonic()
for t in threads: t.start()
for t in threads: t.join()
elapsed = time.monotonic() - start
if errors:
    print("error: " + errors[0], file=sys.stderr)
    sys.exit(1)
print(f"{elapsed:.1f}")
