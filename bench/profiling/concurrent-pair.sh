#!/usr/bin/env bash
# Two pair configurations measured at the same time: each runs in its own bench:proxy (its own
# backend, load generator and addresses: BENCH_IP_BLOCK 90 for A, 92 for B), both at the fixed
# 1,000 rps, and the CPU of each pair's two proxies is read over the same 5 s windows. What the
# machine does meanwhile (the other processes, the VM) falls on both in the same window, so the
# per-window ratio B/A is far steadier than two configurations measured one after the other. An A/A
# run (the same configuration and build on both sides) shows the setup's own bias, a few percent:
# swap A and B to cancel it.
#   bench/profiling/concurrent-pair.sh CONFIG_A CONFIG_B [WINDOWS (1-7, default 7)]
# Env: OFF_A / OFF_B (BENCH_TELEMETRY_OFF for one side), ROOT_A / ROOT_B (a built checkout, such as
# bench/baseline.sh makes; default this one).
set -euo pipefail
a=${1:?usage: concurrent-pair.sh CONFIG_A CONFIG_B [WINDOWS]}
b=${2:?usage: concurrent-pair.sh CONFIG_A CONFIG_B [WINDOWS]}
n=${3:-7}
[[ $n =~ ^[1-7]$ ]] || { echo "concurrent-pair: WINDOWS is 1-7 (they fit in the bench's 60 s fixed-rate warm-up)" >&2; exit 2; }
here=$(cd "$(dirname "$0")/../.." && pwd)
root_a=${ROOT_A:-$here}
root_b=${ROOT_B:-$here}
for r in "$root_a" "$root_b"; do
  # A checkout from before BENCH_IP_BLOCK would put both benches on the same addresses.
  grep -q BENCH_IP_BLOCK "$r/dist/bench/proxy/settings.js" 2>/dev/null ||
    { echo "concurrent-pair: $r has no built bench with BENCH_IP_BLOCK (npx tsc there, or a newer checkout)" >&2; exit 2; }
done
out=$(mktemp -d "${TMPDIR:-/tmp}/concurrent-pair-XXXXXX")
run() { # ROOT CONFIG BLOCK OFF LOG
  env BENCH_IP_BLOCK="$3" BENCH_TELEMETRY_OFF="$4" BENCH_CONFIGS="$2" BENCH_ROUNDS=1 BENCH_WARMUP_S=1 BENCH_SAT_S=1 \
    BENCH_RATE_WARMUP_S=60 BENCH_RATE_S=1 timeout 300 node "$1/dist/bench/proxy.bench.js" >"$5" 2>&1
}
run "$root_a" "$a" 90 "${OFF_A:-}" "$out/a.txt" &
bench_a=$!
run "$root_b" "$b" 92 "${OFF_B:-}" "$out/b.txt" &
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
# shellcheck disable=SC2086
a0=$(ticks $pa); b0=$(ticks $pb)
ra=(); rb=()
for _ in $(seq "$n"); do
  sleep 5
  # shellcheck disable=SC2086
  a1=$(ticks $pa); b1=$(ticks $pb)
  ra+=($((a1 - a0))); rb+=($((b1 - b0)))
  a0=$a1; b0=$b1
done
wait $bench_a $bench_b || true
node -e '
  const [a, b] = [process.argv[1], process.argv[2]].map((s) => s.split(",").map(Number));
  const hz = Number(process.argv[5]);
  const per = (t) => (t / hz / 5).toFixed(3);
  const ratios = a.map((x, i) => Math.round((100 * b[i]) / x));
  const sum = (v) => v.reduce((x, y) => x + y, 0);
  console.log(`A ${process.argv[3]}: CPU s per 1,000 req (both proxies), per 5 s window: ${a.map(per).join(" ")}`);
  console.log(`B ${process.argv[4]}: ${b.map(per).join(" ")}`);
  console.log(`B/A per window: ${ratios.join("% ")}%; pooled ${((100 * sum(b)) / sum(a)).toFixed(1)}%`);
' "$(IFS=,; echo "${ra[*]}")" "$(IFS=,; echo "${rb[*]}")" "$a${OFF_A:+ (off: $OFF_A)}" "$b${OFF_B:+ (off: $OFF_B)}" "$(getconf CLK_TCK)"
echo "(bench outputs: $out)"
