#!/usr/bin/env bash
# Runs every test project against a real control plane and prints one closing line:
#   N passed, N failed, N skipped
# Exit status is non-zero when a set-up step failed (named; no test runs), when any test failed, when
# no test ran, when any test environment's leak scan did not run or was not clean, or when an etcd or
# kube-apiserver started by the tests outlived them.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each set-up step below stops the run when it fails, naming the step: a helper's failure must not
# turn into an empty variable and tests that fail later for a reason nobody reads.
setup_failed() { echo "error: set-up step failed: $1; no test ran" >&2; exit 1; }

# etcd + kube-apiserver for the integration tests (built once and cached; see CONTRIBUTING.md).
# KEYROTATOR_TEST_KUBECONFIG set instead means: test against that cluster.
if [ -z "${KEYROTATOR_TEST_KUBECONFIG:-}" ]; then
  assets="$(hack/envtest-assets.sh)" || setup_failed "control plane (hack/envtest-assets.sh)"
  eval "$assets"
  [ -n "${KUBEBUILDER_ASSETS:-}" ] || setup_failed "control plane (hack/envtest-assets.sh printed no KUBEBUILDER_ASSETS)"
  export KUBEBUILDER_ASSETS
fi

results="$(mktemp -d "${TMPDIR:-/tmp}/keyrotator-test-results.XXXXXX")" || setup_failed "results directory (mktemp)"
trap 'rm -rf "$results"' EXIT

# Every test environment (KubernetesEnvironment: an assembly's shared one, and any a test starts for
# itself) writes "started <id>" here when it starts and, at its end, one verdict on the scan of every
# operator log line, Event, status and ConfigMap for the private keys the run produced (invariant 4):
# "clean <id>: …", "LEAKED <id>: …", "incomplete <id>: …" or "ERROR <id>: …".
export KEYROTATOR_LEAK_REPORT="$results/leak-scan.txt"
# This run's control-plane processes carry its id in their directory names (EnvtestDirectory), so the
# search for leftovers below never finds, or kills, another run's on the same machine.
export KEYROTATOR_TEST_RUN="run${results##*.}"

# A real Helm binary for the chart checks (cached; see hack/helm.sh).
if [ -z "${HELM:-}" ]; then
  HELM="$(hack/helm.sh)" && [ -n "$HELM" ] || setup_failed "Helm (hack/helm.sh)"
fi
export HELM

# Debian's promtool (and Prometheus) for the alert-rule and metrics checks (cached; see hack/prometheus.sh).
if [ -z "${PROMETHEUS_BIN:-}" ]; then
  PROMETHEUS_BIN="$(hack/prometheus.sh)" && [ -n "$PROMETHEUS_BIN" ] || setup_failed "Prometheus (hack/prometheus.sh)"
fi
export PROMETHEUS_BIN

# Azurite, the Azure Storage emulator (npm, pinned and cached; see hack/azurite.sh), for the blob-publication tests.
if [ -z "${AZURITE_BLOB:-}" ]; then
  AZURITE_BLOB="$(hack/azurite.sh)" && [ -n "$AZURITE_BLOB" ] || setup_failed "Azurite (hack/azurite.sh)"
fi
export AZURITE_BLOB

# Kubernetes 1.36's CRD server, for the CRD's CEL rules, which the 1.20 control plane ignores
# (built once from Debian sid's sources and cached; see hack/crd-server.sh).
crd_server="$(hack/crd-server.sh)" || setup_failed "CRD server (hack/crd-server.sh)"
eval "$crd_server"
[ -n "${KEYROTATOR_CRD_SERVER:-}" ] || setup_failed "CRD server (hack/crd-server.sh printed no KEYROTATOR_CRD_SERVER)"
export KEYROTATOR_CRD_SERVER

# JWT libraries that share no code with KeyRotator, for the interop tests: panva/jose (npm), PyJWT
# (Debian's python3-jwt, with Debian's /usr/bin/python3) and go-jose v2 (Debian's sources, built with
# Debian's Go 1.19); .ci/run installs the Debian packages.
if [ ! -d tests/interop/node_modules/jose ]; then
  command -v npm >/dev/null || setup_failed "interop libraries: the interop tests need Node.js 20 and npm"
  npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error >&2 || setup_failed "interop libraries (npm ci --prefix tests/interop)"
fi
/usr/bin/python3 -c 'import jwt' 2>/dev/null || setup_failed "interop libraries: the interop tests need PyJWT: apt-get install python3-jwt"
[ -d /usr/share/gocode/src/gopkg.in/square/go-jose.v2 ] || setup_failed "interop libraries: the interop tests need go-jose v2: apt-get install golang-1.19-go golang-gopkg-square-go-jose.v2-dev"

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

# The leak scan counts as one more check per environment. Every environment that started must have
# scanned and found nothing (one "clean" line under its own id: another environment's clean scan
# never stands in for it), nothing may report a leak, a gap or an error, and every test project
# with a shared environment (AssemblyFixture(typeof(KubernetesEnvironment))) must have started it.
leak_failed=0
leak_error() { echo "error: private key material leak scan: $1" >&2; leak_failed=1; }
if [ ! -f "$KEYROTATOR_LEAK_REPORT" ]; then
  leak_error "no test environment wrote a report, so no scan ran"
else
  if grep -vqE '^(started|clean) ' "$KEYROTATOR_LEAK_REPORT"; then
    leak_error "$(grep -vE '^(started|clean) ' "$KEYROTATOR_LEAK_REPORT" | head -5)"
  fi
  for fixture in $(grep -l 'AssemblyFixture(typeof(KubernetesEnvironment))' tests/*/*.cs 2>/dev/null | xargs -r -n1 dirname | xargs -r -n1 basename | sort -u); do
    grep -q "^started $fixture " "$KEYROTATOR_LEAK_REPORT" || leak_error "$fixture's test environment never started, so its scan did not run"
  done
  environments=0
  while IFS= read -r id; do
    environments=$((environments + 1))
    verdicts="$(awk -v want="clean $id: " 'index($0, want) == 1 { n++ } END { print n + 0 }' "$KEYROTATOR_LEAK_REPORT")"
    [ "$verdicts" -eq 1 ] || leak_error "the environment '$id' started but wrote $verdicts clean verdicts (its scan did not run, or ran twice)"
  done < <(sed -n 's/^started //p' "$KEYROTATOR_LEAK_REPORT")
  [ "$environments" -gt 0 ] || leak_error "no test environment started"
fi
if [ "$leak_failed" -eq 0 ]; then
  sed -n 's/^clean /leak scan clean: /p' "$KEYROTATOR_LEAK_REPORT"
  passed=$((passed + environments))
else
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
