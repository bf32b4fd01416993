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
  # shellcheck source=hack/lib/control-plane.sh
  . hack/lib/control-plane.sh
  start_control_plane "$work" demo
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
