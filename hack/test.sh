#!/usr/bin/env bash
# Runs every test project against a real control plane and prints one closing line:
#   N passed, N failed, N skipped
# Exit status is non-zero when any test failed, when no test ran, or when an etcd or
# kube-apiserver started by the tests outlived them.
set -euo pipefail
cd "$(dirname "$0")/.."

# etcd + kube-apiserver for the integration tests (built once and cached; see CONTRIBUTING.md).
# KEYROTATOR_TEST_KUBECONFIG set instead means: test against that cluster.
if [ -z "${KEYROTATOR_TEST_KUBECONFIG:-}" ]; then
  eval "$(hack/envtest-assets.sh)"
  export KUBEBUILDER_ASSETS
fi

results="$(mktemp -d "${TMPDIR:-/tmp}/keyrotator-test-results.XXXXXX")"
trap 'rm -rf "$results"' EXIT

# The test fixture scans, at the end of the run, every operator log line, Event, status and
# ConfigMap for the private keys the run produced (invariant 4) and writes its verdict here.
export KEYROTATOR_LEAK_REPORT="$results/leak-scan.txt"
# This run's control-plane processes carry its id in their directory names (EnvtestDirectory), so the
# search for leftovers below never finds, or kills, another run's on the same machine.
export KEYROTATOR_TEST_RUN="run${results##*.}"

# A real Helm binary for the chart checks (cached; see hack/helm.sh).
export HELM="${HELM:-$(hack/helm.sh)}"

# Debian's promtool (and Prometheus) for the alert-rule and metrics checks (cached; see hack/prometheus.sh).
export PROMETHEUS_BIN="${PROMETHEUS_BIN:-$(hack/prometheus.sh)}"

# Azurite, the Azure Storage emulator (npm, pinned and cached; see hack/azurite.sh), for the blob-publication tests.
export AZURITE_BLOB="${AZURITE_BLOB:-$(hack/azurite.sh)}"

# Kubernetes 1.36's CRD server, for the CRD's CEL rules, which the 1.20 control plane ignores
# (built once from Debian sid's sources and cached; see hack/crd-server.sh).
eval "$(hack/crd-server.sh)"
export KEYROTATOR_CRD_SERVER

# JWT libraries that share no code with KeyRotator, for the interop tests: panva/jose (npm), PyJWT
# (Debian's python3-jwt, with Debian's /usr/bin/python3) and go-jose v2 (Debian's sources, built with
# Debian's Go 1.19); .ci/run installs the Debian packages.
if [ ! -d tests/interop/node_modules/jose ]; then
  command -v npm >/dev/null || { echo "error: the interop tests need Node.js 20 and npm" >&2; exit 1; }
  npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error >&2
fi
/usr/bin/python3 -c 'import jwt' 2>/dev/null || { echo "error: the interop tests need PyJWT: apt-get install python3-jwt" >&2; exit 1; }
[ -d /usr/share/gocode/src/gopkg.in/square/go-jose.v2 ] || { echo "error: the interop tests need go-jose v2: apt-get install golang-1.19-go golang-gopkg-square-go-jose.v2-dev" >&2; exit 1; }

status=0
dotnet test KeyRotator.sln \
  --logger "trx" --logger "console;verbosity=minimal" \
  --results-directory "$results" \
  --blame-hang-timeout 15m \
  "$@" || status=$?

# Every control-plane process the fixtures started has a keyrotator-envtest-<run>- directory in its
# arguments; none may still be running (the fixture's watchdog needs up to ~12 s after a kill).
leftover=""
for _ in $(seq 1 15); do
  leftover="$(pgrep -af "keyrotator-envtest-$KEYROTATOR_TEST_RUN-" | grep -E 'etcd|kube-apiserver|apiextensions-apiserver' || true)"
  [ -z "$leftover" ] && break
  sleep 1
done
if [ -n "$leftover" ]; then
  echo "error: control-plane processes outlived the tests:" >&2
  echo "$leftover" >&2
  pkill -KILL -f "keyrotator-envtest-$KEYROTATOR_TEST_RUN-" || true
  status=1
fi

passed=0 failed=0 skipped=0 total=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters="$(grep -o '<Counters [^>]*>' "$trx" | head -1)"
  attr() { printf '%s' "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  total=$((total + $(attr total)))
  passed=$((passed + $(attr passed)))
  failed=$((failed + $(attr failed) + $(attr error) + $(attr timeout) + $(attr aborted)))
  # Skipped tests are results with outcome NotExecuted; the Counters element does not always count them.
  results_skipped="$( { grep -o '<UnitTestResult [^>]*outcome="NotExecuted"' "$trx" || true; } | wc -l)"
  counted_skipped="$(attr notExecuted)"
  skipped=$((skipped + (results_skipped > counted_skipped ? results_skipped : counted_skipped)))
done

# The leak scan counts as one more check.
if [ -f "$KEYROTATOR_LEAK_REPORT" ] && ! grep -qE '^(LEAKED|incomplete)' "$KEYROTATOR_LEAK_REPORT" && grep -q '^clean' "$KEYROTATOR_LEAK_REPORT"; then
  echo "leak scan: $(cat "$KEYROTATOR_LEAK_REPORT")"
  passed=$((passed + 1))
else
  echo "error: private key material leak scan failed or did not run: $(cat "$KEYROTATOR_LEAK_REPORT" 2>/dev/null)" >&2
  failed=$((failed + 1))
fi

if [ "$total" -eq 0 ] || [ "$passed" -eq 0 ]; then
  echo "error: no test ran" >&2
  status=1
fi
[ "$failed" -eq 0 ] || status=1
# In CI every test must run: CI installs what each one needs, so a skip hides a gap.
if [ "${CI:-}" = "true" ] && [ "$skipped" -gt 0 ]; then
  echo "error: $skipped test(s) skipped; with CI=true every test must run (see the trx results for which and why)" >&2
  { grep -ho '<UnitTestResult [^>]*outcome="NotExecuted"' "$results"/*.trx || true; } | sed -n 's/.*testName="\([^"]*\)".*/  skipped: \1/p' >&2
  status=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
