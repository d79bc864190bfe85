#!/usr/bin/env bash
# B's CPU per request over A's, measured side by side (concurrent-pair.sh) in RUNS pairs of runs,
# each pair once as given and once with the sides swapped, every run with new proxy processes; then
# the geometric mean of all the runs and its 95% interval. Both repeats matter:
# - concurrent-pair.sh's two sides are not quite alike (which pair runs in which address block and
#   starts first): one orientation read up to 8 points apart from the other in one session;
# - a run's processes land in their own state (V8's compiled code and inlining, the heap's and the
#   code's addresses): the same comparison read 121.5% in one pair of runs and 125.2% in the next,
#   each pair's two runs within a point of each other. Only fresh processes average that out, so
#   many short runs say more than a few long ones.
#   bench/profiling/pair-ratio.sh CONFIG_A CONFIG_B [WINDOWS (default 10)] [RUNS (pairs, default 1)]
#   (ROOT_A/ROOT_B, OFF_A/OFF_B, ARGS_A/ARGS_B as concurrent-pair.sh)
set -euo pipefail
a=${1:?usage: pair-ratio.sh CONFIG_A CONFIG_B [WINDOWS] [RUNS]}
b=${2:?usage: pair-ratio.sh CONFIG_A CONFIG_B [WINDOWS] [RUNS]}
n=${3:-10}
runs=${4:-1}
[[ $runs =~ ^[1-9][0-9]?$ ]] || { echo "pair-ratio: RUNS is 1-99" >&2; exit 2; }
here=$(dirname "$0")
log=$(mktemp "${TMPDIR:-/tmp}/pair-ratio-XXXXXX")
trap 'rm -f "$log"' EXIT
# (Each run's report goes to a file, then to stderr: a tee to /dev/stderr would truncate a log file stderr is redirected to.)
pooled() { cat "$log" >&2; sed -n 's/.*pooled \([0-9.]*\)%.*/\1/p' "$log" | tail -1; }
# (Read both sides first: in `X=$Y Y=$X cmd` the second expansion already sees the new X, which
# once gave both sides of the swapped run B's settings.)
root_a=${ROOT_A:-} root_b=${ROOT_B:-} off_a=${OFF_A:-} off_b=${OFF_B:-} args_a=${ARGS_A:-} args_b=${ARGS_B:-}
given=()
swapped=()
for _ in $(seq "$runs"); do
  # A then B; then everything that names a side swapped.
  ROOT_A=$root_a ROOT_B=$root_b OFF_A=$off_a OFF_B=$off_b ARGS_A=$args_a ARGS_B=$args_b \
    "$here/concurrent-pair.sh" "$a" "$b" "$n" >"$log"
  first=$(pooled)
  ROOT_A=$root_b ROOT_B=$root_a OFF_A=$off_b OFF_B=$off_a ARGS_A=$args_b ARGS_B=$args_a \
    "$here/concurrent-pair.sh" "$b" "$a" "$n" >"$log"
  second=$(pooled)
  [ -n "$first" ] && [ -n "$second" ] || { echo "pair-ratio: a run printed no pooled ratio (see above)" >&2; exit 1; }
  given+=("$first")
  swapped+=("$second")
done
node -e '
  const given = process.argv[1].split(" ").map(Number);
  // A swapped run measured A/B: its B/A is the reciprocal.
  const swapped = process.argv[2].split(" ").map((r) => (100 * 100) / Number(r));
  const all = [...given, ...swapped].map((r) => Math.log(r / 100));
  const mean = all.reduce((x, y) => x + y, 0) / all.length;
  const pct = (l) => (100 * Math.exp(l)).toFixed(1);
  const list = (v) => v.map((r) => r.toFixed(1)).join(", ");
  console.log(`B/A per run: ${list(given)}% as given, ${list(swapped)}% with the sides swapped`);
  if (all.length < 4) {
    console.log(`B/A: geometric mean ${pct(mean)}% (one pair of runs: no interval; RUNS=2 or more gives one)`);
    process.exit(0);
  }
  // Student t (two-sided 95%) for the runs less one degree of freedom: each run is one draw of its processes.
  const sd = Math.sqrt(all.reduce((x, l) => x + (l - mean) ** 2, 0) / (all.length - 1));
  const T = [12.71, 4.3, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23, 2.2, 2.18, 2.16, 2.14, 2.13, 2.12, 2.11, 2.1, 2.09];
  const t = T[all.length - 2] ?? 2.0;
  const half = (t * sd) / Math.sqrt(all.length);
  console.log(`B/A: geometric mean ${pct(mean)}% over ${all.length} runs, 95% interval ${pct(mean - half)}–${pct(mean + half)}%`);
' "${given[*]}" "${swapped[*]}"
