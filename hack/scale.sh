#!/usr/bin/env bash
# A scale run on a throwaway local control plane (etcd + kube-apiserver, as hack/demo.sh starts them):
#   hack/scale.sh [N=100] [ALG=ES256]
# N SigningKeySets (RSA ones with rsaKeySize 2048, the yardstick's size) are applied before the operator (Release build) starts. It prints: operator start
# to every set's JWKS published and to every set Ready; the API requests the operator sent, by verb
# and resource, during convergence and during STEADY_SECONDS (default 300) of steady state; the
# operator's resident memory (idle with no sets, peak, steady); a rotation storm (every set annotated
# keyrotator.io/rotate-now at once) and its completion time. UNRELATED_SECRETS=10000 first creates
# that many unrelated Secrets and reports the operator's memory with them. Before the operator starts,
# a bare client (hack/lib/bare-client.py) sends the same 6 writes per set, to other objects, over
# WORKERS (default 2, the operator's default too) keep-alive connections: the baseline the
# convergence target is measured against.
# PUBLISH=azurite also gives every set an issuer and an external publication target: one Azurite blob
# container (npm azurite, hack/azurite.sh) behind nginx, which throttles like a storage account (503
# ServerBusy with Retry-After once over BLOB_RATE requests/s, default 100, burst BLOB_BURST, default 20)
# and logs every request; the report counts them by method and answer for each phase.
# Progress is read from the operator's own /metrics, so the script's polling adds no API requests;
# the request counts are the API server's apiserver_request_total, before and after.
# Numbers from this machine are in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-100}"
ALG="${2:-ES256}"
STEADY_SECONDS="${STEADY_SECONDS:-300}"
UNRELATED_SECRETS="${UNRELATED_SECRETS:-0}"
PREPUBLISH="${PREPUBLISH:-5s}"
WORKERS="${WORKERS:-2}"
PUBLISH="${PUBLISH:-}"
BLOB_RATE="${BLOB_RATE:-100}"
BLOB_BURST="${BLOB_BURST:-20}"
NS=scale
work="$(mktemp -d "${TMPDIR:-/tmp}/keyrotator-scale.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=hack/lib/control-plane.sh
. hack/lib/control-plane.sh
start_control_plane "$work" scale
etcd_pid=${pids[0]}; apiserver_pid=${pids[1]}
k() { "$KUBECTL" --kubeconfig "$kubeconfig" "$@"; }
now() { date +%s.%N; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$2"; }
cpu_s() { awk '{ printf "%.1f", ($14 + $15) / 100 }' "/proc/$1/stat" 2>/dev/null || echo 0; }  # user+system CPU seconds (USER_HZ 100)
rss_mb() { local kb; kb=$(awk '/VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || true); echo $(( ${kb:-0} / 1024 )); }

# apiserver_request_total for the resources the operator touches, summed by verb and resource.
requests() {
  k get --raw /metrics | python3 -c '
import re, sys, collections
totals = collections.Counter()
for line in sys.stdin:
    if not line.startswith("apiserver_request_total{"):
        continue
    labels = dict(re.findall(r"(\w+)=\"([^\"]*)\"", line))
    resource = labels.get("resource", "")
    if labels.get("subresource"):
        resource += "/" + labels["subresource"]
    if resource.split("/")[0] in ("signingkeysets", "configmaps", "secrets", "leases", "events", "namespaces", "tokenreviews", "subjectaccessreviews"):
        totals[(labels.get("verb", ""), resource)] += float(line.rsplit(" ", 1)[1])
for (verb, resource), count in sorted(totals.items()):
    print(f"{verb} {resource} {int(count)}")
'
}
diff_requests() {
  python3 - "$1" "$2" <<'PY'
import sys
def load(path):
    out = {}
    for line in open(path):
        verb, resource, count = line.split()
        out[(verb, resource)] = int(count)
    return out
before, after = load(sys.argv[1]), load(sys.argv[2])
total = 0
for key in sorted(after):
    delta = after[key] - before.get(key, 0)
    if delta and key[0] != "WATCH":
        print(f"    {key[0]:<7} {key[1]:<28} {delta}")
        total += delta
print(f"    total (without WATCH): {total}")
PY
}

echo "== CRD, namespace, $N $ALG sets (prePublish $PREPUBLISH)"
k apply --validate=false -f config/crds/ >/dev/null
k wait --for condition=established --timeout=60s crd/signingkeysets.keyrotator.io >/dev/null
k create namespace "$NS" >/dev/null
k create namespace idle >/dev/null
if [ "$UNRELATED_SECRETS" -gt 0 ]; then
  echo "== $UNRELATED_SECRETS unrelated Secrets (1 KiB each) in namespace $NS"
  python3 - "$UNRELATED_SECRETS" "$NS" > "$work/unrelated.yaml" <<'PY'
import sys, base64, os
n, ns = int(sys.argv[1]), sys.argv[2]
print("apiVersion: v1\nkind: List\nitems:")
for i in range(n):
    data = base64.b64encode(os.urandom(768)).decode()
    print(f"- apiVersion: v1\n  kind: Secret\n  metadata: {{name: unrelated-{i:05d}, namespace: {ns}}}\n  data: {{blob: {data}}}")
PY
  k create -f "$work/unrelated.yaml" >/dev/null
fi
if [ "$PUBLISH" = azurite ]; then
  command -v nginx >/dev/null || { echo "error: PUBLISH=azurite needs nginx for the throttling front (apt-get install nginx-light)" >&2; exit 1; }
  azurite_bin="$(hack/azurite.sh)"
  az_port=$(port); blob_port=$(port)
  mkdir -p "$work/azurite" "$work/nginx"
  "$azurite_bin" --silent --disableTelemetry --skipApiVersionCheck --loose --location "$work/azurite" \
    --blobHost 127.0.0.1 --blobPort "$az_port" > "$work/azurite.log" 2>&1 &
  pids+=($!)
  cat > "$work/nginx/nginx.conf" <<NGINX
user root;
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
  log_format blob '\$msec \$request_method \$status';
  access_log $work/blob-access.log blob;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  limit_req_zone \$server_port zone=account:1m rate=${BLOB_RATE}r/s;  # one account: every request counts (an empty key would count none)
  upstream azurite { server 127.0.0.1:$az_port; keepalive 16; }
  server {
    listen 127.0.0.1:$blob_port;
    location / {
      limit_req zone=account burst=$BLOB_BURST nodelay;
      limit_req_status 503;
      proxy_pass http://azurite;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
    }
    error_page 503 = @busy;
    location @busy {
      add_header Retry-After 1 always;
      add_header x-ms-error-code ServerBusy always;
      default_type application/xml;
      return 503 '<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code><Message>Ingress is over the account limit.</Message></Error>';
    }
  }
}
NGINX
  nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
  pids+=($!)
  for _ in $(seq 1 60); do curl -s -o /dev/null "http://127.0.0.1:$blob_port/devstoreaccount1?comp=list" && break; sleep 0.5; done
  account_key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="  # Azurite's well-known devstoreaccount1 key
  connection="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$account_key;BlobEndpoint=http://127.0.0.1:$blob_port/devstoreaccount1;"
  dotnet build bench/KeyRotator.Benchmarks -c Release -nologo -v q -o "$work/bench" >/dev/null
  for _ in $(seq 1 20); do dotnet "$work/bench/KeyRotator.Benchmarks.dll" blob-container "$connection" issuers >/dev/null 2>&1 && break; sleep 1; done
  k create namespace platform >/dev/null
  k create secret generic issuers-storage -n platform --from-literal=connection-string="$connection" >/dev/null
  cat <<TARGET | k create --validate=false -f - >/dev/null
apiVersion: keyrotator.io/v1alpha1
kind: ClusterPublishTarget
metadata: {name: issuers}
spec:
  azureBlob:
    endpoint: http://127.0.0.1:$blob_port/devstoreaccount1
    container: issuers
    connectionStringSecretRef: {namespace: platform, name: issuers-storage, key: connection-string}
  namespaces: [$NS]
  pathPrefix: ""          # granted to one namespace: its sets may use the whole container
  publicUrl: https://issuers.example.test
TARGET
  echo "== Azurite on :$az_port behind nginx on :$blob_port (throttling over $BLOB_RATE requests/s, burst $BLOB_BURST); ClusterPublishTarget issuers"
fi
python3 - "$N" "$ALG" "$NS" "$PREPUBLISH" "$PUBLISH" > "$work/sets.yaml" <<'PY'
import sys
n, alg, ns, pre, publish = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
print("apiVersion: v1\nkind: List\nitems:")
for i in range(n):
    size = ", rsaKeySize: 2048" if alg[:2] in ("RS", "PS") else ""
    external = (f", jwks: {{issuer: 'https://issuers.example.test/set-{i:04d}'}}, publish: [{{target: issuers, path: set-{i:04d}}}]"
                if publish == "azurite" else "")
    print(f"- apiVersion: keyrotator.io/v1alpha1\n  kind: SigningKeySet\n  metadata: {{name: set-{i:04d}, namespace: {ns}}}\n"
          f"  spec: {{algorithm: {alg}{size}, rotation: {{interval: 24h, prePublish: {pre}}}{external}}}")
PY
k create -f "$work/sets.yaml" >/dev/null

echo "== bare-client baseline: $N x 6 writes over $WORKERS connections (namespace bare, no operator)"
k create namespace bare >/dev/null
sed -e "s/namespace: $NS/namespace: bare/" -e 's/name: set-/name: bare-/' "$work/sets.yaml" | k create -f - >/dev/null
cpub0_api=$(cpu_s "$apiserver_pid"); cpub0_etcd=$(cpu_s "$etcd_pid")
bare_seconds=$(python3 hack/lib/bare-client.py "$kubeconfig" bare "$N" "$WORKERS")
bare_cpu="kube-apiserver $(python3 -c "print(round($(cpu_s "$apiserver_pid")-$cpub0_api,1))"), etcd $(python3 -c "print(round($(cpu_s "$etcd_pid")-$cpub0_etcd,1))")"
echo "   $bare_seconds s"

echo "== building the operator (Release)"
dotnet build src/KeyRotator.Operator -c Release -nologo -v q -o "$work/bin" >/dev/null
keygen_seconds=""
case "$ALG" in RS*|PS*)
  echo "== the RSA yardstick: $N RSA-2048 keys generated on $(nproc) threads (bench/KeyRotator.Benchmarks rsa-keygen)"
  dotnet build bench/KeyRotator.Benchmarks -c Release -nologo -v q -o "$work/bench" >/dev/null
  keygen_seconds=$(dotnet "$work/bench/KeyRotator.Benchmarks.dll" rsa-keygen "$N" "$(nproc)")
  echo "   $keygen_seconds s"
esac
# /metrics without authentication (KeyRotator:Metrics:Authentication None): the port is on loopback, and the
# run counts the operator's own API requests, which a reviewed scrape's TokenReviews would add to.
operator() { # namespace port log; DOTNET_GCgen0size as the image sets it (Dockerfile)
  DOTNET_GCgen0size="${DOTNET_GCgen0size:-0x400000}" dotnet "$work/bin/KeyRotator.Operator.dll" --kubeconfig "$kubeconfig" --urls "http://127.0.0.1:$2" \
    --KeyRotator:Metrics:Authentication None \
    --KeyRotator:WatchNamespaces:0 "$1" --KeyRotator:LeaderElection:Namespace "$1" \
    --KeyRotator:MinimumPrePublish 00:00:05 --KeyRotator:Workers "$WORKERS" --Logging:LogLevel:Default Warning > "$3" 2>&1 &
  pids+=($!)
}
# Progress is read from the operator's /metrics twice a second by one long-lived poller
# (hack/lib/progress.py): a shell pipeline forked on every poll cost more CPU than the operator's own
# work besides key generation, on the same two cores.
progress() { # url pid goal... ; prints "goal <unix time>" lines and "peak_mb <MB>"
  python3 hack/lib/progress.py "$1" "$2" "$N" "${@:3}" > "$work/progress" || { echo "error: the operator exited:" >&2; tail -20 "$work/operator.log" >&2; exit 1; }
}
reached() { awk -v goal="$1" '$1 == goal { print $2 }' "$work/progress"; }
note_peak() { local p; p=$(reached peak_mb); [ "${p:-0}" -gt "$peak" ] && peak=$p; true; }

echo "== idle: an operator watching an empty namespace"
idle_port=$(port)
operator idle "$idle_port" "$work/idle.log"
idle_pid=${pids[-1]}
until curl -fsS "http://127.0.0.1:$idle_port/readyz" >/dev/null 2>&1; do sleep 0.5; done
sleep 45  # past the start-up burst and the memory trim that follows it (KeyRotator:MemoryTrimQuietPeriod, 30 s)
idle_rss=$(rss_mb "$idle_pid")
kill "$idle_pid"; wait "$idle_pid" 2>/dev/null || true

requests > "$work/r0"
cpu0_api=$(cpu_s "$apiserver_pid"); cpu0_etcd=$(cpu_s "$etcd_pid")
op_port=$(port)
url="http://127.0.0.1:$op_port"
start=$(now)
operator "$NS" "$op_port" "$work/operator.log"
op_pid=${pids[-1]}
echo "== operator started (pid $op_pid); converging"
peak=0
progress "$url" "$op_pid" published ready signing
published_at=$(reached published); ready_at=$(reached ready); signing_at=$(reached signing); note_peak
poller=$(awk '$1 == "poller" { print $2 " polls of /metrics, " $3 " CPU-s" }' "$work/progress")
reconciles=$({ curl -fsS "$url/metrics" 2>/dev/null || true; } | awk '/^keyrotator_reconcile_duration_seconds_count/ { n += $NF } END { printf "%d", n }')
cpu1_op=$(cpu_s "$op_pid"); cpu1_api=$(cpu_s "$apiserver_pid"); cpu1_etcd=$(cpu_s "$etcd_pid")
requests > "$work/r1"
steady_start=$(now)
echo "== converged; $STEADY_SECONDS s of steady state"
steady_end=$(( $(date +%s) + STEADY_SECONDS ))
steady_series=()
while [ "$(date +%s)" -lt "$steady_end" ]; do
  rss=$(rss_mb "$op_pid"); [ "$rss" -gt "$peak" ] && peak=$rss
  steady_series+=("$rss")
  sleep 5
done
steady_rss=$(rss_mb "$op_pid")
steady_summary=$(python3 -c "import sys; v=[int(x) for x in sys.argv[1:]]; print(f'first {v[0]} MB, last {v[-1]} MB, min {min(v)} MB, max {max(v)} MB over {len(v)} samples 5 s apart')" "${steady_series[@]}" "$steady_rss")
requests > "$work/r2"

echo "== rotation storm: every set annotated keyrotator.io/rotate-now"
storm_start=$(now)
k annotate signingkeysets --all -n "$NS" keyrotator.io/rotate-now=storm --overwrite >/dev/null
progress "$url" "$op_pid" rotated
storm_done=$(reached rotated); note_peak
requests > "$work/r3"
storm_end=$(now)
blob_report=""
if [ "$PUBLISH" = azurite ]; then
  sleep 2  # the access log is written as answers complete
  blob_requests() { # from to: requests nginx saw (to Azurite, or answered 503 itself), by method and answer
    python3 - "$work/blob-access.log" "$1" "$2" <<'PY'
import sys, collections
path, t0, t1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
counts = collections.Counter()
for line in open(path):
    at, method, status = line.split()
    if t0 <= float(at) < t1:
        counts[(method, status)] += 1
for (method, status), n in sorted(counts.items()):
    print(f"    {method:<7} {status:<4} {n}")
print(f"    total: {sum(counts.values())}")
PY
  }
  degraded=$(k get signingkeysets -n "$NS" -o json | python3 -c 'import json, sys; print(sum(1 for s in json.load(sys.stdin)["items"] if any(c["type"] == "Degraded" and c["status"] == "True" for c in (s.get("status") or {}).get("conditions", []))))')
  failed_events=$(k get events -n "$NS" --field-selector reason=PublishFailed -o name | wc -l)
  throttled_seconds=$({ curl -fsS "$url/metrics" 2>/dev/null || true; } | awk '/^keyrotator_publish_target_throttled_seconds_total/ { s += $NF } END { printf "%.1f", s }')
  blob_report="  blob requests (nginx in front of Azurite; 503 = throttled at $BLOB_RATE/s) during convergence:
$(blob_requests "$start" "$signing_at")
  blob requests during $STEADY_SECONDS s of steady state:
$(blob_requests "$steady_start" "$storm_start")
  blob requests during the rotation storm:
$(blob_requests "$storm_start" "$storm_end")
  after the storm: $degraded sets Degraded, $failed_events PublishFailed Events, $throttled_seconds s waited on Retry-After (operator's metric)"
fi

cat <<REPORT

== KeyRotator scale run: $N $ALG sets${PUBLISH:+ publishing to Azurite}, prePublish $PREPUBLISH, $(nproc) cores, $(uname -r)
  operator start -> every JWKS published : $(since "$start" "$published_at") s
  operator start -> every set Ready      : $(since "$start" "$ready_at") s (target <= 1.5 x (prePublish + bare client) = $(python3 -c "import re; p='$PREPUBLISH'; v=float(re.sub('[a-z]+','',p)); v*= {'s':1,'m':60,'h':3600}[re.sub('[0-9.]+','',p) or 's']; print(round(1.5*(v+$bare_seconds),1))") s)
  bare client, the same $(( N * 6 )) writes over $WORKERS connections : $bare_seconds s$( [ -n "$keygen_seconds" ] && echo "
  $N RSA-2048 keys generated on $(nproc) threads  : $keygen_seconds s (RSA target: every set Ready <= 1.2 x that + prePublish)")
  operator start -> every set signing, queue empty : $(since "$start" "$signing_at") s
  rotation storm ($N rotate-now)         : $(since "$storm_start" "$storm_done") s until every new key signs
  resident memory: idle (no sets) ${idle_rss} MB, peak ${peak} MB, steady ${steady_rss} MB$( [ "$UNRELATED_SECRETS" -gt 0 ] && echo " (with $UNRELATED_SECRETS unrelated Secrets)")
  resident memory over the steady state: $steady_summary
  CPU seconds during convergence (2 cores: at most $(python3 -c "print(round(2*$(since "$start" "$signing_at"),1))")): operator $cpu1_op, kube-apiserver $(python3 -c "print(round($cpu1_api-$cpu0_api,1))"), etcd $(python3 -c "print(round($cpu1_etcd-$cpu0_etcd,1))")
  CPU seconds during the bare client's writes: $bare_cpu
  the script's progress poller during convergence: $poller (and the operator's rendering of /metrics)
  reconciles during convergence: $reconciles ($(python3 -c "print(round($reconciles/$N,1))") per set)
  API requests during convergence ($(( N )) sets, $(python3 -c "print(round($(since "$start" "$signing_at")))") s):
$(diff_requests "$work/r0" "$work/r1")
  API requests during $STEADY_SECONDS s of steady state:
$(diff_requests "$work/r1" "$work/r2")
  API requests during the rotation storm:
$(diff_requests "$work/r2" "$work/r3")
$blob_report
REPORT
