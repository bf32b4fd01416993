#!/usr/bin/env bash
# The operator's main job, live: runs KeyRotator against the current kube context, or, when there
# is none, against a throwaway local control plane (etcd + kube-apiserver from hack/envtest-assets.sh).
# It installs the CRD, applies samples/demo-short-rotation.yaml (a 30 s rotation) and prints the
# keys' states and the published JWKS as they change, until Ctrl-C (or DEMO_SECONDS elapse).
set -euo pipefail
cd "$(dirname "$0")/.."
NS=keyrotator-demo
SET=demo-tokens
work="$(mktemp -d "${TMPDIR:-/tmp}/keyrotator-demo.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo; echo "stopping"; exit 0' INT TERM

KUBECTL="$(command -v kubectl || true)"
if [ -n "${KUBECONFIG_DEMO:-}" ]; then
  kubeconfig="$KUBECONFIG_DEMO"
elif [ -n "$KUBECTL" ] && "$KUBECTL" config current-context >/dev/null 2>&1 && "$KUBECTL" version --request-timeout=5s >/dev/null 2>&1; then
  kubeconfig="${KUBECONFIG:-$HOME/.kube/config}"
  echo "== using the current kube context: $("$KUBECTL" config current-context)"
else
  echo "== no reachable kube context: starting a throwaway control plane in $work"
  eval "$(hack/envtest-assets.sh)"
  [ -x "$KUBEBUILDER_ASSETS/kubectl" ] && KUBECTL="$KUBEBUILDER_ASSETS/kubectl"
  [ -n "$KUBECTL" ] || { echo "error: no kubectl found" >&2; exit 1; }
  port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || shuf -i 20000-40000 -n 1; }
  etcd_port=$(port); peer_port=$(port); api_port=$(port)
  token="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  echo "$token,demo-admin,demo-admin,\"system:masters\"" > "$work/tokens.csv"
  openssl genrsa -out "$work/sa.key" 2048 2>/dev/null
  "$KUBEBUILDER_ASSETS/etcd" --name demo --data-dir "$work/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "demo=http://127.0.0.1:$peer_port" > "$work/etcd.log" 2>&1 &
  pids+=($!)
  "$KUBEBUILDER_ASSETS/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" --bind-address 127.0.0.1 \
    --advertise-address 127.0.0.1 --secure-port "$api_port" --insecure-port 0 --cert-dir "$work/certs" \
    --service-account-key-file "$work/sa.key" --service-account-signing-key-file "$work/sa.key" \
    --service-account-issuer https://kubernetes.default.svc --token-auth-file "$work/tokens.csv" \
    --authorization-mode RBAC --service-cluster-ip-range 10.0.0.0/24 > "$work/kube-apiserver.log" 2>&1 &
  pids+=($!)
  kubeconfig="$work/kubeconfig"
  cat > "$kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: demo, cluster: {server: "https://127.0.0.1:$api_port", insecure-skip-tls-verify: true}}]
users: [{name: demo-admin, user: {token: "$token"}}]
contexts: [{name: demo, context: {cluster: demo, user: demo-admin}}]
current-context: demo
KC
  printf '== waiting for kube-apiserver on 127.0.0.1:%s ' "$api_port"
  for _ in $(seq 1 120); do
    "$KUBECTL" --kubeconfig "$kubeconfig" get --raw /readyz >/dev/null 2>&1 && break
    printf .; sleep 0.5
  done
  echo
  "$KUBECTL" --kubeconfig "$kubeconfig" get --raw /readyz >/dev/null || { echo "error: kube-apiserver did not start:" >&2; tail -20 "$work/kube-apiserver.log" >&2; exit 1; }
fi
k() { "$KUBECTL" --kubeconfig "$kubeconfig" "$@"; }

echo "== installing the CRD and the demo set"
# --validate=false: kubectl before 1.25 (and the 1.20 local control plane) does not know the CRD's
# x-kubernetes-validations rules; the API server ignores them there and the operator enforces the same.
k apply --validate=false -f config/crds/ >/dev/null
k wait --for condition=established --timeout=60s crd/signingkeysets.keyrotator.io >/dev/null
k create namespace "$NS" --dry-run=client -o yaml | k apply -f - >/dev/null
k apply -f samples/demo-short-rotation.yaml

echo "== building and starting the operator (logs: $work/operator.log)"
dotnet build src/KeyRotator.Operator -nologo -v q -o "$work/bin" >/dev/null
dotnet "$work/bin/KeyRotator.Operator.dll" --kubeconfig "$kubeconfig" --urls http://127.0.0.1:0 \
  --KeyRotator:WatchNamespaces:0 "$NS" --KeyRotator:LeaderElection:Namespace "$NS" \
  --KeyRotator:MinimumPrePublish 00:00:05 --KeyRotator:MinimumInterval 00:00:20 --KeyRotator:SignerPropagationAllowance 00:00:02 > "$work/operator.log" 2>&1 &
pids+=($!)

echo "== watching $NS/$SET (Ctrl-C to stop)"
deadline=$(( $(date +%s) + ${DEMO_SECONDS:-1000000000} ))
last=""
while [ "$(date +%s)" -lt "$deadline" ]; do
  kill -0 "${pids[-1]}" 2>/dev/null || { echo "error: the operator exited:" >&2; tail -20 "$work/operator.log" >&2; exit 1; }
  keys="$(k get signingkeyset "$SET" -n "$NS" -o jsonpath='{range .status.keys[*]}{.kid}={.state} {end}' 2>/dev/null || true)"
  jwks="$(k get configmap "$SET-jwks" -n "$NS" -o jsonpath='{.data.jwks\.json}' 2>/dev/null | grep -o '"kid": *"[^"]*"' | sed 's/"kid": *"\([^"]*\)"/\1/' | cut -c1-8 | paste -sd, - || true)"
  now="$(printf '%s | JWKS: [%s]' "$(echo "$keys" | sed -E 's/([A-Za-z0-9_-]{8})[A-Za-z0-9_-]{35}=/\1…=/g')" "$jwks")"
  if [ "$now" != "$last" ]; then
    printf '%s  keys: %s\n' "$(date +%H:%M:%S)" "$now"
    last="$now"
  fi
  sleep 1
done
echo "== $(k get signingkeyset "$SET" -n "$NS" --no-headers)"
