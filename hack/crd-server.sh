#!/usr/bin/env bash
# Provides a Kubernetes 1.36 CRD server (k8s.io/apiextensions-apiserver) and an etcd 3.5 for the tests
# of the CRD's CEL rules: prints `export KEYROTATOR_CRD_SERVER=<dir>` on stdout, progress on stderr.
#
#   eval "$(hack/crd-server.sh)"
#
# No kube-apiserver newer than 1.20 builds from Debian's sources (the newer `kubernetes` source packages
# hold kubectl only), but Debian sid packages the apiextensions-apiserver 0.36 sources and their Go
# dependency closure, and that server alone runs CRD validation, CEL rules included, as a full
# kube-apiserver 1.36 does (it is the same code, serving the same handler).
#
# Nothing is installed on the machine: packages are fetched with `apt-get download` through a private
# APT configuration (sid and trixie sources, own lists and cache), unpacked with `dpkg-deb -x`, and
# the build is cached under $KEYROTATOR_CACHE_DIR (default ~/.cache/keyrotator), keyed by version.
# hack/crd-server.versions pins the package versions; a version sid no longer serves is replaced
# by the current one, with a warning (sid moves, and Debian's mirror keeps only the newest).
set -euo pipefail

VERSION=1.36.4
here="$(cd "$(dirname "$0")" && pwd)"
CACHE_ROOT="${KEYROTATOR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/keyrotator}"
OUT="$CACHE_ROOT/crd-server/v$VERSION"
PINS="$here/crd-server.versions"
MIRROR="${KEYROTATOR_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

say() { printf '[crd-server] %s\n' "$*" >&2; }
die() { printf '[crd-server] error: %s\n' "$*" >&2; exit 1; }
emit() { say "using apiextensions-apiserver $VERSION and etcd from $1"; printf 'export KEYROTATOR_CRD_SERVER=%q\n' "$1"; exit 0; }

if [ -n "${KEYROTATOR_CRD_SERVER:-}" ] && [ -x "$KEYROTATOR_CRD_SERVER/apiextensions-apiserver" ] && [ -x "$KEYROTATOR_CRD_SERVER/etcd" ]; then
  emit "$KEYROTATOR_CRD_SERVER"
fi
[ -f "$OUT/.complete" ] && emit "$OUT"

command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null \
  || die "this is not a Debian machine: build k8s.io/apiextensions-apiserver $VERSION and etcd 3.5 yourself and export KEYROTATOR_CRD_SERVER=<directory holding both>"

work="$CACHE_ROOT/crd-server/build"
rm -rf "$work"; mkdir -p "$work"/{apt/lists/partial,apt/archives/partial,apt/sources.list.d,apt/preferences.d,debs,root}
cat > "$work/apt/sources.list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR sid main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR trixie main
SRC
: > "$work/apt/status"
cat > "$work/apt/apt.conf" <<CONF
Dir::Etc::SourceList "$work/apt/sources.list";
Dir::Etc::SourceParts "$work/apt/sources.list.d";
Dir::Etc::Preferences "$work/apt/preferences";
Dir::Etc::PreferencesParts "$work/apt/preferences.d";
Dir::State::Lists "$work/apt/lists";
Dir::State::status "$work/apt/status";
Dir::Cache "$work/apt";
Dir::Cache::Archives "$work/apt/archives";
APT::Architecture "amd64";
APT::Get::AllowUnauthenticated "false";
Acquire::Languages "none";
APT::Sandbox::User "root";
CONF
# trixie's etcd 3.5; sid for everything else (sid's etcd may be a newer major).
cat > "$work/apt/preferences" <<PREF
Package: etcd-server
Pin: release n=trixie
Pin-Priority: 990
PREF
export APT_CONFIG="$work/apt/apt.conf"

say "first run on this machine: fetching the apiextensions-apiserver $VERSION sources from Debian sid and building them (about 4 minutes on 2 cores)"
say "[1/4] reading the sid and trixie package lists (private APT configuration; the machine's sources are untouched)"
apt-get update -qq >&2 || die "apt-get update against $MIRROR (sid, trixie) failed"

# The dependency closure of the server's sources: Go library source packages only.
say "[2/4] resolving the Go source closure of golang-k8s-apiextensions-apiserver-dev"
apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances \
    golang-k8s-apiextensions-apiserver-dev 2>/dev/null \
  | grep -E '^[a-z0-9]' | grep -E '^golang-.*-dev$' | sort -u > "$work/closure"
[ -s "$work/closure" ] || die "sid does not provide golang-k8s-apiextensions-apiserver-dev"
printf '%s\n' golang-1.26-go golang-1.26-src etcd-server >> "$work/closure"
say "  $(wc -l < "$work/closure") packages"

# Pinned versions where sid (or trixie) still serves them, else the current ones (one apt-cache call each).
xargs -a "$work/closure" apt-cache madison 2>/dev/null | awk -F'[|]' '{gsub(/ /, "", $1); gsub(/ /, "", $2); print $1 "=" $2}' | sort -u > "$work/served"
xargs -a "$work/closure" apt-cache policy 2>/dev/null | awk '/^[^ ].*:$/ {pkg = substr($0, 1, length($0) - 1)} /Candidate:/ {print pkg "=" $2}' > "$work/candidates"
: > "$work/want"
while read -r pkg; do
  pinned="$( { grep -E "^${pkg}=" "$PINS" 2>/dev/null || true; } | head -1)"
  current="$( { grep -E "^${pkg}=" "$work/candidates" || true; } | head -1)"
  if [ -n "$pinned" ] && grep -qxF "$pinned" "$work/served"; then
    echo "$pinned" >> "$work/want"
  else
    [ -n "$current" ] && [ "${current#*=}" != "(none)" ] || die "no candidate for $pkg"
    [ -z "$pinned" ] || say "  warning: ${pinned} is no longer served; using ${current#*=} (update hack/crd-server.versions)"
    echo "$current" >> "$work/want"
  fi
done < "$work/closure"

say "[3/4] downloading and unpacking $(wc -l < "$work/want") packages"
(cd "$work/debs" && xargs -a "$work/want" apt-get download -qq >&2) || die "apt-get download failed"
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$work/root"; done

goroot="$work/root/usr/lib/go-1.26"
[ -x "$goroot/bin/go" ] || die "golang-1.26-go did not unpack a go binary"
gopath="$work/root/usr/share/gocode"
[ -d "$gopath/src/k8s.io/apiextensions-apiserver" ] || die "the apiextensions-apiserver sources are missing from the unpacked packages"

say "[4/4] compiling k8s.io/apiextensions-apiserver (the long step)"
minor="$(echo "$VERSION" | cut -d. -f2)"
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v$VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
(
  cd "$work"
  GOROOT="$goroot" GOPATH="$gopath" GO111MODULE=off GOPROXY=off GOFLAGS= GOTOOLCHAIN=local CGO_ENABLED=0 \
    GOCACHE="$CACHE_ROOT/go-build-cache-1.26" \
    "$goroot/bin/go" build -trimpath -ldflags "$ldflags" -o "$work/apiextensions-apiserver" k8s.io/apiextensions-apiserver 2>&1 \
    | while IFS= read -r line; do say "  go: $line"; done
  [ "${PIPESTATUS[0]}" = 0 ]
) || die "the apiextensions-apiserver build failed (see the lines above)"

etcd="$(find "$work/root/usr/bin" -name etcd -type f | head -1)"
[ -n "$etcd" ] || die "etcd-server did not unpack an etcd binary"
mkdir -p "$OUT"
install -m 0755 "$work/apiextensions-apiserver" "$OUT/apiextensions-apiserver"
install -m 0755 "$etcd" "$OUT/etcd"
sort "$work/want" > "$OUT/versions"
touch "$OUT/.complete"
say "built; the package versions used are in $OUT/versions"
rm -rf "$work"
emit "$OUT"
