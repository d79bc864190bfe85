#!/usr/bin/env bash
# On-CPU samples (perf, 1999 Hz, call graphs) of a pair configuration's two proxies for 15 s while
# bench:proxy drives them at its fixed 1,000 rps (the window sits inside the unrecorded warm-up,
# after 20 s of load), then a per-symbol report of each proxy (JIT frames named through
# --perf-basic-prof-only-functions). Needs `perf` (Debian: linux-perf) and root or perf_event_paranoid ≤ 1.
#   bench/profiling/perf-pair.sh pair-mtls OUT_DIR        then   node bench/profiling/perf-diff.mjs DIR_A DIR_B
# Profiles taken one after the other differ by ±10% in total (the machine's state moves); to compare
# two configurations, profile them at the same time, each in its own address block:
#   BENCH_IP_BLOCK=90 perf-pair.sh pair-mtls A & BENCH_IP_BLOCK=92 perf-pair.sh pair-telemetry B; wait
# PERF_NODE_ARGS adds node flags to the proxies': --no-turbo-inlining gives each function its own
# time (see perf-diff.mjs).
set -euo pipefail
cfg=${1:?usage: perf-pair.sh CONFIG OUT_DIR}
out=${2:?usage: perf-pair.sh CONFIG OUT_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$out" && mkdir -p "$out"
block=${BENCH_IP_BLOCK:-90}
BENCH_IP_BLOCK=$block BENCH_SAT_S=1 BENCH_WARMUP_S=1 BENCH_ROUNDS=1 BENCH_CONFIGS="$cfg" BENCH_RATE_WARMUP_S=45 \
  BENCH_PROXY_NODE_ARGS="--perf-basic-prof-only-functions ${PERF_NODE_ARGS:-}" timeout 300 node "$root/dist/bench/proxy.bench.js" >"$out/bench.txt" 2>&1 &
bench=$!
sleep 25
pids=$(pgrep -f "bin.js proxy .*--ip 127\\.0\\.$block\\." || true)
[ -n "$pids" ] || { echo "perf-pair: no proxy running (see $out/bench.txt)" >&2; kill $bench; exit 1; }
for p in $pids; do perf record -e cpu-clock -F 1999 -g -p "$p" -o "$out/perf.$p.data" -- sleep 15 >/dev/null 2>&1 & done
wait $bench || true
for p in $pids; do
  perf report -i "$out/perf.$p.data" --no-children --sort sym --stdio -n -g none 2>/dev/null | grep -E '^ +[0-9]' >"$out/sym.$p.txt" || true
done
# The window saw 15 s at 1,000 rps: 15,000 requests through each proxy. (JIT frames are named from
# /tmp/perf-PID.map, which keeps the names of code V8 freed since: a JS name can be stale.)
echo 15000 >"$out/requests"
echo "perf-pair: $out/sym.*.txt"
