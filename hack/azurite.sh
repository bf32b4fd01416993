#!/usr/bin/env bash
# Provides Azurite, the Azure Storage emulator (npm's azurite, pinned), for the blob-publication tests and
# prints the path of its azurite-blob command on stdout. Installed with npm into
# $KEYROTATOR_CACHE_DIR (default ~/.cache/keyrotator), not globally. AZURITE_BLOB=/path/to/azurite-blob overrides.
set -euo pipefail
version=3.37.0
if [ -n "${AZURITE_BLOB:-}" ] && [ -x "$AZURITE_BLOB" ]; then echo "$AZURITE_BLOB"; exit 0; fi

CACHE_ROOT="${KEYROTATOR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/keyrotator}"
dir="$CACHE_ROOT/azurite-$version"
bin="$dir/node_modules/.bin/azurite-blob"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

say() { printf '[azurite] %s\n' "$*" >&2; }
command -v npm >/dev/null || { say "the blob-publication tests need Node.js and npm (Debian: apt-get install nodejs npm), or AZURITE_BLOB"; exit 1; }
mkdir -p "$dir"
say "installing azurite $version with npm into $dir"
npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "azurite@$version" >&2
[ -x "$bin" ] || { say "npm installed azurite but $bin is missing"; exit 1; }
say "azurite $version cached in $dir"
echo "$bin"
