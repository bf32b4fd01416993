#!/usr/bin/env bash
# Provides etcd and kube-apiserver for the integration tests (the envtest convention):
# prints `export KUBEBUILDER_ASSETS=<dir>` on stdout, progress on stderr.
#
#   eval "$(hack/envtest-assets.sh)"
#
# 1. KUBEBUILDER_ASSETS already pointing at etcd and kube-apiserver is used as is.
# 2. On Debian, kube-apiserver (and kubectl) are built once from Debian's `kubernetes` source
#    package with Debian's golang-1.19, etcd comes from Debian's etcd-server, and the result is
#    cached outside the repository under $KEYROTATOR_CACHE_DIR (default ~/.cache/keyrotator),
#    keyed by version. Later runs take seconds.
# 3. Anywhere else it stops and names the alternatives.
set -euo pipefail

K8S_VERSION=1.20.2
CACHE_ROOT="${KEYROTATOR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/keyrotator}"
ASSETS="$CACHE_ROOT/envtest/k8s-$K8S_VERSION"

say() { printf '[envtest-assets] %s\n' "$*" >&2; }
die() { printf '[envtest-assets] error: %s\n' "$*" >&2; exit 1; }
emit() { say "using etcd and kube-apiserver from $1"; printf 'export KUBEBUILDER_ASSETS=%q\n' "$1"; exit 0; }

has_assets() { [ -x "$1/etcd" ] && [ -x "$1/kube-apiserver" ]; }

if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
  has_assets "$KUBEBUILDER_ASSETS" && emit "$KUBEBUILDER_ASSETS"
  say "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS does not hold both etcd and kube-apiserver; providing our own"
fi

if has_assets "$ASSETS" && [ -f "$ASSETS/.complete" ]; then
  emit "$ASSETS"
fi

if [ ! -r /etc/debian_version ] || ! command -v apt-get >/dev/null; then
  die "this is not a Debian machine, so the control plane cannot be built here. Alternatives:
  - download etcd and kube-apiserver with setup-envtest (sigs.k8s.io/controller-runtime/tools/setup-envtest)
    and export KUBEBUILDER_ASSETS=<that directory>;
  - run the tests against an existing cluster: export KEYROTATOR_TEST_KUBECONFIG=<kubeconfig>;
  - with a Docker engine, the K3s fixture (Testcontainers.K3s) runs the same tests."
fi
[ "$(id -u)" = 0 ] || die "building the control plane installs Debian packages and needs root (or set KUBEBUILDER_ASSETS)"

export DEBIAN_FRONTEND=noninteractive
say "first run on this machine: building kube-apiserver $K8S_VERSION from Debian sources (about 10 minutes on 2 cores)"

src_list=/etc/apt/sources.list.d/keyrotator-deb-src.sources
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  say "adding deb-src entries for the Debian mirror"
  cat > "$src_list" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

say "[1/5] apt-get update and install golang-1.19 etcd-server rsync reflect2"
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends golang-1.19 etcd-server rsync golang-github-modern-go-reflect2-dev make dpkg-dev >&2

work="$CACHE_ROOT/build"
rm -rf "$work"; mkdir -p "$work"
cd "$work"
say "[2/5] downloading the kubernetes source package (about 34 MB)"
apt-get source --download-only kubernetes >&2
tar xzf kubernetes_*.orig.tar.gz
src="$(ls -d "$work"/kubernetes-*/ | head -1)"; src="${src%/}"
[ -d "$src/vendor" ] || die "unexpected source layout in $work"

# The vendored reflect2 v1.0.1 crashes kube-apiserver (SIGSEGV in json-iterator map iteration) under
# Go >= 1.18 as soon as a custom resource is serialized: use Debian's v1.0.2 instead.
say "[3/5] replacing vendored reflect2 with Debian's v1.0.2"
rm -rf "$src/vendor/github.com/modern-go/reflect2"
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$src/vendor/github.com/modern-go/reflect2"

export GOPATH="$work/gopath" GOCACHE="$CACHE_ROOT/go-build-cache" GOFLAGS=-mod=vendor
mkdir -p "$GOPATH/src/k8s.io"
ln -sfn "$src" "$GOPATH/src/k8s.io/kubernetes"
say "[4/5] compiling kube-apiserver and kubectl (the long step)"
(
  cd "$GOPATH/src/k8s.io/kubernetes"
  PATH=/usr/lib/go-1.19/bin:$PATH CGO_ENABLED=0 make WHAT="cmd/kube-apiserver cmd/kubectl" 2>&1 \
    | while IFS= read -r line; do say "  go: $line"; done
) || die "the kube-apiserver build failed (see the lines above)"

say "[5/5] caching binaries in $ASSETS"
mkdir -p "$ASSETS"
out="$GOPATH/src/k8s.io/kubernetes/_output/local/bin/linux/amd64"
[ -x "$out/kube-apiserver" ] || out="$(dirname "$(find "$src/_output" -name kube-apiserver -type f | head -1)")"
install -m 0755 "$out/kube-apiserver" "$out/kubectl" "$ASSETS/"
install -m 0755 "$(command -v etcd || echo /usr/bin/etcd)" "$ASSETS/etcd"
touch "$ASSETS/.complete"
cd /; rm -rf "$work"
emit "$ASSETS"
