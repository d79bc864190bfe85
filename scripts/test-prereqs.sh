#!/usr/bin/env bash
# Installs the Debian packages the test suite needs (run by `npm test` through package.json's
# "pretest"), so `npm install && npm test` works on a bare Debian machine as CI runs it (root,
# CI=true, no stdin). Idempotent and quick when everything is there: only dpkg is asked.
#
# Add a package: one line in PACKAGES below (`name # what needs it`).
# Not root and something missing: prints the command to run; fails under CI=true (a test whose
# prerequisite is missing must fail there), warns otherwise (those tests then skip, saying why).
set -euo pipefail

PACKAGES=(
  python3-grpcio # gRPC C-core (Python) as a second proxyless xDS client: test/e2e/grpc-xds-interop.test.ts
  redis-server   # the global rate limit's shared counters (`tsmesh ratelimit` replicas on one Redis): test/ratelimit, test/e2e
  openssl        # `openssl verify` of workload certificate chains, as Istio's plug-in CA task checks them: test/security, test/controlplane, test/e2e/bookinfo-mtls.test.ts
  prometheus     # real Prometheus scraping the mesh (`tsmesh up --prometheus`): test/e2e/prometheus.test.ts
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done

[ "${#missing[@]}" -eq 0 ] && exit 0

cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
fail() {
  echo "test-prereqs: $1" >&2
  echo "test-prereqs: missing Debian packages: ${missing[*]}; install them (as root) with:" >&2
  echo "  $cmd" >&2
  if [ "${CI:-}" = "true" ]; then exit 1; fi
  echo "test-prereqs: continuing; tests that need them will be skipped" >&2
  exit 0
}

command -v apt-get >/dev/null 2>&1 || fail "apt-get not found (not a Debian machine)"
[ "$(id -u)" -eq 0 ] || fail "not root"

echo "test-prereqs: installing ${missing[*]}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } </dev/null >"$log" 2>&1; then
  cat "$log" >&2
  fail "apt-get failed"
fi
echo "test-prereqs: installed ${missing[*]}"
