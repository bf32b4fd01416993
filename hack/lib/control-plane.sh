# Sourced by hack/demo.sh and hack/scale.sh: starts a throwaway local control plane (etcd +
# kube-apiserver from hack/envtest-assets.sh) in $work, appends their PIDs to the caller's `pids`
# array, and sets `kubeconfig` (an admin token kubeconfig) and `KUBECTL`.
start_control_plane() {
  local work="$1" name="${2:-demo}"
  eval "$(hack/envtest-assets.sh)"
  [ -x "$KUBEBUILDER_ASSETS/kubectl" ] && KUBECTL="$KUBEBUILDER_ASSETS/kubectl"
  [ -n "${KUBECTL:-}" ] || { echo "error: no kubectl found" >&2; exit 1; }
  port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || shuf -i 20000-40000 -n 1; }
  local etcd_port peer_port api_port token
  etcd_port=$(port); peer_port=$(port); api_port=$(port)
  token="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  echo "$token,$name-admin,$name-admin,\"system:masters\"" > "$work/tokens.csv"
  openssl genrsa -out "$work/sa.key" 2048 2>/dev/null
  "$KUBEBUILDER_ASSETS/etcd" --name "$name" --data-dir "$work/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "$name=http://127.0.0.1:$peer_port" > "$work/etcd.log" 2>&1 &
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
clusters: [{name: $name, cluster: {server: "https://127.0.0.1:$api_port", insecure-skip-tls-verify: true}}]
users: [{name: $name-admin, user: {token: "$token"}}]
contexts: [{name: $name, context: {cluster: $name, user: $name-admin}}]
current-context: $name
KC
  printf '== waiting for kube-apiserver on 127.0.0.1:%s ' "$api_port"
  for _ in $(seq 1 120); do
    "$KUBECTL" --kubeconfig "$kubeconfig" get --raw /readyz >/dev/null 2>&1 && break
    printf .; sleep 0.5
  done
  echo
  "$KUBECTL" --kubeconfig "$kubeconfig" get --raw /readyz >/dev/null || { echo "error: kube-apiserver did not start:" >&2; tail -20 "$work/kube-apiserver.log" >&2; exit 1; }
}
