#!/usr/bin/env bash
# Provides Debian's Prometheus (server and promtool) for the alert-rule checks and prints the directory
# holding both binaries on stdout. The package is downloaded and unpacked, not installed, so no
# service is started. Cached in $KEYROTATOR_CACHE_DIR (default ~/.cache/keyrotator).
# PROMETHEUS_BIN=/dir/with/promtool overrides.
set -euo pipefail
if [ -n "${PROMETHEUS_BIN:-}" ] && [ -x "$PROMETHEUS_BIN/promtool" ]; then echo "$PROMETHEUS_BIN"; exit 0; fi

CACHE_ROOT="${KEYROTATOR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/keyrotator}"
dir="$CACHE_ROOT/prometheus"
if [ -x "$dir/promtool" ] && [ -x "$dir/prometheus" ]; then echo "$dir"; exit 0; fi

say() { printf '[prometheus] %s\n' "$*" >&2; }
command -v apt-get >/dev/null || { say "not a Debian machine: set PROMETHEUS_BIN to a directory holding prometheus and promtool"; exit 1; }
work="$(mktemp -d)"
chmod 0777 "$work"
trap 'rm -rf "$work"' EXIT
say "downloading Debian's prometheus package"
if ! (cd "$work" && apt-get download prometheus >&2 2>"$work/err"); then
  (apt-get update -qq >&2 && cd "$work" && apt-get download prometheus >&2)
fi
dpkg -x "$work"/prometheus_*.deb "$work/x"
mkdir -p "$dir"
install -m 0755 "$work/x/usr/bin/promtool" "$work/x/usr/bin/prometheus" "$dir/"
say "$("$dir/promtool" --version 2>&1 | head -1) cached in $dir"
echo "$dir"
