#!/usr/bin/env bash
# Two pair configurations measured at the same time: each runs in its own bench:proxy (its own
# backend, load generator and addresses: BENCH_IP_BLOCK 90 for A, 92 for B), both at the fixed
# 1,000 rps, and the CPU of each pair's two proxies is read over the same 5 s windows. What the
# machine does meanwhile (the other processes, the host: this VM reports no steal time, so a
# process is charged for time its vCPU was taken away) falls on both in the same window, so the
# per-window ratio B/A is far steadier (±3–5% per run) than rounds run one after the other (±35%).
# Alternating windows (one pair loaded at a time) were tried: they swing as much as separate rounds.
# The price: twice the processes share the caches, so a request pays more for its cold start than
# in bench:proxy's own runs, and a cost made of cold starts (as telemetry's is) reads somewhat larger.
# An A/A run (the same configuration and build on both sides) shows the setup's own bias; swap A
# and B to cancel it.
#   bench/profiling/concurrent-pair.sh CONFIG_A CONFIG_B [WINDOWS (1-40, default 7)]
# Env: OFF_A / OFF_B (BENCH_TELEMETRY_OFF for one side), ROOT_A / ROOT_B (a built checkout, such as
# bench/baseline.sh makes; default this one), ARGS_A / ARGS_B (node flags for one side's proxies,
# BENCH_PROXY_NODE_ARGS: V8's GC flags, say).
set -euo pipefail
a=${1:?usage: concurrent-pair.sh CONFIG_A CONFIG_B [WINDOWS]}
b=${2:?usage: concurrent-pair.sh CONFIG_A CONFIG_B [WINDOWS]}
n=${3:-7}
[[ $n =~ ^[1-9][0-9]?$ ]] && [ "$n" -le 40 ] || { echo "concurrent-pair: WINDOWS is 1-40" >&2; exit 2; }
here=$(cd "$(dirname "$0")/../.." && pwd)
root_a=${ROOT_A:-$here}
root_b=${ROOT_B:-$here}
for r in "$root_a" "$root_b"; do
  # A checkout from before BENCH_IP_BLOCK would put both benches on the same addresses.
  grep -q BENCH_IP_BLOCK "$r/dist/bench/proxy/settings.js" 2>/dev/null ||
    { echo "concurrent-pair: $r has no built bench with BENCH_IP_BLOCK (npx tsc there, or a newer checkout)" >&2; exit 2; }
  # Older benches cap their warm-up at 60 s: room for 7 windows only.
  if [ "$n" -gt 7 ] && grep -q "Math.min(60," "$r/dist/bench/proxy/settings.js"; then
    echo "concurrent-pair: $r's bench caps its warm-up at 60 s: at most 7 windows there" >&2
    exit 2
  fi
done
# The windows sit inside the bench's unrecorded fixed-rate warm-up (after 24 s of start-up and load),
# which must outlast them.
warmup=$((n * 5 + 40))
[ "$warmup" -le 300 ] || { echo "concurrent-pair: $n windows do not fit in the bench's 300 s warm-up" >&2; exit 2; }
out=$(mktemp -d "${TMPDIR:-/tmp}/concurrent-pair-XXXXXX")
run() { # ROOT CONFIG BLOCK OFF LOG NODE_ARGS (run in the background: exec makes $! the bench's timeout)
  exec env BENCH_IP_BLOCK="$3" BENCH_TELEMETRY_OFF="$4" BENCH_PROXY_NODE_ARGS="$6" BENCH_CONFIGS="$2" BENCH_ROUNDS=1 BENCH_WARMUP_S=1 BENCH_SAT_S=1 \
    BENCH_RATE_WARMUP_S="$warmup" BENCH_RATE_S=1 timeout $((warmup + 240)) node "$1/dist/bench/proxy.bench.js" >"$5" 2>&1
}
run "$root_a" "$a" 90 "${OFF_A:-}" "$out/a.txt" "${ARGS_A:-}" &
bench_a=$!
run "$root_b" "$b" 92 "${OFF_B:-}" "$out/b.txt" "${ARGS_B:-}" &
bench_b=$!
# Both proxies start, warm up and pass their 1 s saturation run, then run at 1,000 rps: the windows
# start after about 15 s of that (V8 has tiered the request path up by then).
sleep 24
pids() { pgrep -f "bin.js proxy .*--ip 127\.0\.$1\." | tr '\n' ' '; }
pa=$(pids 90)
pb=$(pids 92)
if [ "$(wc -w <<<"$pa")" != 2 ] || [ "$(wc -w <<<"$pb")" != 2 ]; then
  echo "concurrent-pair: expected two proxies on each side, found A: [$pa] B: [$pb] (see $out)" >&2
  kill $bench_a $bench_b 2>/dev/null || true
  exit 1
fi
ticks() { local s=0 f; for p in "$@"; do read -r -a f <"/proc/$p/stat"; s=$((s + f[13] + f[14])); done; echo $s; }
ra=(); rb=()
secs=5
# shellcheck disable=SC2086
a0=$(ticks $pa); b0=$(ticks $pb)
for _ in $(seq "$n"); do
  sleep "$secs"
  # shellcheck disable=SC2086
  a1=$(ticks $pa); b1=$(ticks $pb)
  ra+=($((a1 - a0))); rb+=($((b1 - b0)))
  a0=$a1; b0=$b1
done
# The bench runs on to the end of its warm-up; its results are not what this measures.
kill $bench_a $bench_b 2>/dev/null || true
wait $bench_a $bench_b 2>/dev/null || true
node -e '
  const [a, b] = [process.argv[1], process.argv[2]].map((s) => s.split(",").map(Number));
  const [hz, secs] = [Number(process.argv[5]), Number(process.argv[6])];
  const per = (t) => (t / hz / secs).toFixed(3);
  const ratios = a.map((x, i) => Math.round((100 * b[i]) / x));
  const sum = (v) => v.reduce((x, y) => x + y, 0);
  console.log(`A ${process.argv[3]}: CPU s per 1,000 req (both proxies), per window: ${a.map(per).join(" ")}`);
  console.log(`B ${process.argv[4]}: ${b.map(per).join(" ")}`);
  console.log(`B/A per window: ${ratios.join("% ")}%; pooled ${((100 * sum(b)) / sum(a)).toFixed(1)}%`);
' "$(IFS=,; echo "${ra[*]}")" "$(IFS=,; echo "${rb[*]}")" "$a${OFF_A:+ (off: $OFF_A)}${ARGS_A:+ ($ARGS_A)}" "$b${OFF_B:+ (off: $OFF_B)}${ARGS_B:+ ($ARGS_B)}" "$(getconf CLK_TCK)" "$secs"
echo "(bench outputs: $out)"
